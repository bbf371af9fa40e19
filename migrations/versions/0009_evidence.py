"""Photo evidence (证据照片), self-reports (自主申报) and yearly star thresholds (星级文明户).

A photo's bytes live on disk under the data directory, named by their SHA-256; the database keeps one
metadata row per upload (append-only) and the links from awards to their photos (append-only), so the
evidence behind an award can never be swapped afterwards. A self-report is an award a villager filed for
their own household: always a deed (positive points), always through review.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24
"""

from jifen.kit.migrate import execute_script, grant_app_privileges_sql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        r"""
CREATE TABLE photos (
    village_id uuid NOT NULL,
    id uuid NOT NULL,
    sha256 varchar(64) NOT NULL,
    content_type varchar(16) NOT NULL,
    size integer NOT NULL,
    width integer NOT NULL,
    height integer NOT NULL,
    uploaded_by uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_photos PRIMARY KEY (village_id, id),
    CONSTRAINT fk_photos_village_id_villages FOREIGN KEY (village_id) REFERENCES villages (id),
    CONSTRAINT ck_photos_sha256 CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    CONSTRAINT ck_photos_content_type CHECK (content_type IN ('image/jpeg', 'image/png', 'image/webp')),
    CONSTRAINT ck_photos_size CHECK (size > 0),
    CONSTRAINT ck_photos_dimensions CHECK (width > 0 AND height > 0)
);
CREATE INDEX ix_photos_id ON photos (id);
CREATE TRIGGER photos_append_only BEFORE UPDATE OR DELETE ON photos
    FOR EACH ROW EXECUTE FUNCTION jifen_refuse_change();
CREATE TRIGGER photos_no_truncate BEFORE TRUNCATE ON photos
    FOR EACH STATEMENT EXECUTE FUNCTION jifen_refuse_change();

-- the evidence attached to an award; the shared village_id in both keys keeps a photo in its village
CREATE TABLE award_photos (
    village_id uuid NOT NULL,
    award_id uuid NOT NULL,
    photo_id uuid NOT NULL,
    position smallint NOT NULL,
    CONSTRAINT pk_award_photos PRIMARY KEY (village_id, award_id, photo_id),
    CONSTRAINT fk_award_photos_award FOREIGN KEY (village_id, award_id) REFERENCES awards (village_id, id),
    CONSTRAINT fk_award_photos_photo FOREIGN KEY (village_id, photo_id) REFERENCES photos (village_id, id),
    CONSTRAINT ck_award_photos_position CHECK (position BETWEEN 0 AND 8)
);
CREATE TRIGGER award_photos_append_only BEFORE UPDATE OR DELETE ON award_photos
    FOR EACH ROW EXECUTE FUNCTION jifen_refuse_change();
CREATE TRIGGER award_photos_no_truncate BEFORE TRUNCATE ON award_photos
    FOR EACH STATEMENT EXECUTE FUNCTION jifen_refuse_change();

-- 自主申报: filed by a villager for their own household (submitted_by is the villager); only a deed
ALTER TABLE awards ADD COLUMN self_report boolean NOT NULL DEFAULT false;
ALTER TABLE awards ADD CONSTRAINT ck_awards_self_report_deed CHECK (NOT self_report OR points > 0);
CREATE INDEX ix_awards_self_reports ON awards (village_id, created_at) WHERE self_report;
CREATE INDEX ix_awards_household_created ON awards (village_id, household_id, created_at);

-- 星级文明户: the points earned in a local year for one to five stars, ascending
ALTER TABLE villages ADD COLUMN star_thresholds integer[] NOT NULL DEFAULT '{100,200,300,400,500}';
ALTER TABLE villages ADD CONSTRAINT ck_villages_star_thresholds CHECK (
    cardinality(star_thresholds) = 5 AND array_position(star_thresholds, NULL) IS NULL
    AND 0 < star_thresholds[1] AND star_thresholds[1] < star_thresholds[2]
    AND star_thresholds[2] < star_thresholds[3] AND star_thresholds[3] < star_thresholds[4]
    AND star_thresholds[4] < star_thresholds[5]);
"""
    )
    execute_script(grant_app_privileges_sql())


def downgrade() -> None:
    execute_script(
        """
DROP TABLE award_photos;
DROP TABLE photos;
DROP INDEX ix_awards_household_created;
ALTER TABLE awards DROP COLUMN self_report;
ALTER TABLE villages DROP COLUMN star_thresholds;
"""
    )
