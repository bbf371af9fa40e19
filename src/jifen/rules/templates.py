"""Rule sets from real villages: a small library of 积分细则 a new village picks from, edits, and creates in
one step (`POST /villages/{id}/rules/batch`).

Built from how the villages in the seed articles score (`shared/seeds/`, distilled in `domain.md`):
湛江's 门前三包 "小积分" rewards and 六乱整治 deductions with 和事佬 mediation, the 美丽庭院 star levels,
五好家庭 and 移风易俗 from the 文明新风 campaigns, 志愿服务 by the hour, the monthly village meeting, and the
village that starts every household at 100 a month and takes 5 for each problem found. Point values are
the ones seen in those villages (门前三包 +15 / −15, meeting +5, waste sorting +10, poultry loose −8 then −15
then −20, half of a deduction back after 整改); the admin changes them before creating.
"""

from __future__ import annotations

from dataclasses import dataclass

from jifen.models import Period, Review


@dataclass(frozen=True)
class Template:
    code: str
    name: str
    category: str
    points: int
    cap: tuple[int, Period] | None = None  # at most this many points per period per household
    review: Review = Review.none
    evidence_required: bool = False
    rectification_share: int | None = None  # percent of a deduction returned after 整改
    escalation: tuple[int, ...] | None = None  # points taken by the 1st, 2nd, 3rd… repeat
    hint: str = ""  # how villages use it, shown beside the rule

    def body(self) -> dict[str, object]:
        """The rule as `POST /villages/{id}/rules` takes it."""
        return {
            "code": self.code,
            "name": self.name,
            "category": self.category,
            "points": self.points,
            "cap": {"count": self.cap[0], "period": self.cap[1].value} if self.cap else None,
            "evidence_required": self.evidence_required,
            "review": self.review.value,
            "rectification_share": self.rectification_share,
            "escalation": list(self.escalation) if self.escalation else None,
        }


@dataclass(frozen=True)
class TemplateSet:
    key: str
    name: str
    description: str
    rules: tuple[Template, ...]


M, W, Y, D = Period.month, Period.week, Period.year, Period.day

SETS: tuple[TemplateSet, ...] = (
    TemplateSet(
        "environment",
        "人居环境 · 门前三包",
        "日打扫、月评比：门前三包每月检查，做到加分、没做到扣分，整改后返还一半；美丽庭院按星级评定。",
        (
            Template(
                "MQSB", "门前三包达标", "人居环境", 15, (15, M), hint="每月检查一次，门前整洁、绿化、有序"
            ),
            Template(
                "MQSB-X",
                "门前三包不达标",
                "人居环境",
                -15,
                (15, M),
                evidence_required=True,
                rectification_share=50,
                hint="拍照留证，整改后返还一半",
            ),
            Template("LJFL", "垃圾分类到位", "人居环境", 10, (10, M), hint="每月评比"),
            Template(
                "MLTY-1", "美丽庭院一星", "美丽庭院", 10, (30, M), Review.single, True, hint="庭院干净整洁"
            ),
            Template(
                "MLTY-2",
                "美丽庭院二星",
                "美丽庭院",
                20,
                (30, M),
                Review.single,
                True,
                hint="干净整洁，有绿化",
            ),
            Template(
                "MLTY-3",
                "美丽庭院三星",
                "美丽庭院",
                30,
                (30, M),
                Review.single,
                True,
                hint="整洁、美化、有特色，可作示范",
            ),
        ),
    ),
    TemplateSet(
        "six-messes",
        "六乱整治 · 扣分",
        "乱搭乱建、乱堆乱放、乱贴乱画、乱扔乱倒、乱排乱放、乱停乱放，发现即扣分；屡犯加重，整改后返还一半。",
        (
            Template(
                "LDLJ",
                "乱搭乱建",
                "六乱整治",
                -20,
                review=Review.single,
                evidence_required=True,
                rectification_share=50,
            ),
            Template("LDLF", "乱堆乱放", "六乱整治", -10, evidence_required=True, rectification_share=50),
            Template("LTLH", "乱贴乱画", "六乱整治", -5, evidence_required=True, rectification_share=50),
            Template("LRLD", "乱扔乱倒垃圾", "六乱整治", -5, evidence_required=True, rectification_share=50),
            Template("LPLF", "污水乱排乱放", "六乱整治", -10, evidence_required=True, rectification_share=50),
            Template("LTLF", "乱停乱放", "六乱整治", -5, rectification_share=50),
            Template(
                "JQSY",
                "家禽散养",
                "六乱整治",
                -8,
                evidence_required=True,
                escalation=(8, 15, 20),
                hint="第一次扣 8 分，再犯 15 分、20 分",
            ),
        ),
    ),
    TemplateSet(
        "civility",
        "文明新风 · 五好家庭 · 移风易俗",
        "五好家庭每年评一次；红白喜事新办简办加分，大操大办扣分；孝老爱亲、邻里和睦。",
        (
            Template(
                "WHJT",
                "五好家庭",
                "文明新风",
                50,
                (50, Y),
                Review.double,
                True,
                hint="每年评选一次，两名审核人审核",
            ),
            Template("XLAQ", "孝老爱亲", "文明新风", 10, (20, M), Review.single),
            Template("HSXB", "婚事新办", "移风易俗", 20, (20, Y), Review.single),
            Template("SSJB", "丧事简办", "移风易俗", 20, (20, Y), Review.single),
            Template("DCDB", "红白喜事大操大办", "移风易俗", -20, review=Review.single),
            Template("TBJY", "子女考上大学", "崇学重教", 20, (20, Y), Review.single, True),
        ),
    ),
    TemplateSet(
        "participation",
        "志愿服务 · 议事 · 和事佬",
        "志愿服务按小时记分；参加村民月度例会；和事佬调解邻里纠纷，小事不出村。",
        (
            Template(
                "ZYFW", "志愿服务（每小时）", "志愿服务", 2, (40, M), hint="数量填服务小时数，每月最多 40 分"
            ),
            Template("YDLH", "参加村民月度例会", "议事协商", 5, (5, M)),
            Template("HSL", "和事佬调解纠纷", "矛盾调解", 10, (30, M), Review.single, hint="调解成功一次"),
            Template("PAXL", "平安巡逻", "平安建设", 5, (20, M)),
            Template("JFJY", "建言献策被采纳", "议事协商", 10, (20, Y), Review.single),
        ),
    ),
    TemplateSet(
        "monthly-base",
        "每月基础分 · 发现问题扣分",
        "有的村每月先给每户 100 分，检查中每发现一个问题扣 5 分。",
        (
            Template("JCF", "每月基础分", "基础分", 100, (100, M), hint="每月给每户记一次"),
            Template(
                "JCWT",
                "检查发现问题",
                "基础分",
                -5,
                evidence_required=True,
                rectification_share=50,
                hint="每个问题扣 5 分",
            ),
        ),
    ),
)

BY_KEY = {s.key: s for s in SETS}
