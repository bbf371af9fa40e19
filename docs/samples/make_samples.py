"""Write the sample household rolls of this folder again: `.venv/bin/python docs/samples/make_samples.py`.

roll-500.xlsx      500 made-up households in 6 grids (a merged title row above the header, members on a
                   second sheet), with four deliberate bad rows: no 户号, a 户号 given twice, a phone that is
                   no phone, a population written in words
roll-500-gbk.csv   the same households as Excel on Chinese Windows saves a CSV (GBK), with other header names
template.xlsx      the template the import page offers, with three example households
catalogue.xlsx     three items for the points supermarket (商品名称, 兑换积分, 库存, 单位, 类别)
"""

from pathlib import Path

from jifen.imports.samples import write_samples

if __name__ == "__main__":
    for path in write_samples(Path(__file__).parent):
        print(path)  # noqa: T201
