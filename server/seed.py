"""The organisations every Jangkau installation in Cirebon starts with."""

import sqlalchemy as sa

from .models import Organisation

ORGANISATIONS = [
    {
        "code": "ltsa",
        "name": "LTSA P2MI Kabupaten Cirebon",
        "kind": "ltsa",
        "services": ["ak1_antarkerja", "dukcapil", "kesehatan", "rekomendasi_paspor_imigrasi",
                     "skck_kepolisian", "bpjs_tk", "perbankan"],
    },
    {
        "code": "mrc",
        "name": "Migrant Worker Resource Centre (MRC) Cirebon",
        "kind": "mrc",
        "services": ["informasi_migrasi_aman", "konsultasi_pra_penempatan", "konsultasi_purna",
                     "pengaduan_kasus", "pelatihan"],
    },
    {
        "code": "sbmi",
        "name": "SBMI (Serikat Buruh Migran Indonesia) Cirebon",
        "kind": "ngo",
        "services": ["pengaduan_kasus", "bantuan_hukum", "konsultasi_purna"],
    },
    {
        "code": "wcc_mawar_balqis",
        "name": "WCC Mawar Balqis",
        "kind": "ngo",
        "services": ["layanan_responsif_gender", "konseling_psikososial", "pengaduan_kasus"],
    },
]


def ensure_organisations(session) -> int:
    """Add the standard organisations that are missing; returns how many were added."""
    have = set(session.execute(sa.select(Organisation.code)).scalars())
    added = 0
    for org in ORGANISATIONS:
        if org["code"] not in have:
            session.add(Organisation(**org))
            added += 1
    session.flush()
    return added
