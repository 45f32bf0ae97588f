"""A realistic demo dataset: accounts of every role and six months of outreach and referrals.

Everything is made up, but shaped like the work in Kabupaten Cirebon: officers of three desa
in different kecamatan, a community group, the LTSA desk, SBMI and WCC Mawar Balqis; visits,
persons (mostly women, a few children), consents, migration plans and referrals whose
histories pass the rules of `sync.referral_status`. The same `today` and `seed` give the same
data; a second run adds nothing.
"""

from __future__ import annotations

import datetime as dt
import random

import sqlalchemy as sa

from sync import hlc
from sync.referral_status import derive_status

from .accounts import check_scope
from .enums import ROLES
from .enums import TOPICS
from .models import CommunityGroup
from .models import Consent
from .models import MigrationPlan
from .models import Organisation
from .models import OutreachVisit
from .models import Person
from .models import Referral
from .models import ReferralEvent
from .models import Region
from .models import SyncedRecord
from .models import User
from .models import new_uuid
from .passwords import hash_password
from .seed import ensure_organisations

DEMO_PASSWORD = "jangkau-demo"
DEFAULT_SEED = 3209
NOTICE_VERSION = "2024-10"
WIB = dt.timezone(dt.timedelta(hours=7), "WIB")
HISTORY_DAYS = 182

DESA = {
    "waled": "32.09.01.2008",  # Waled Desa, kecamatan Waled
    "gebang": "32.09.30.2007",  # Gebang Kulon, kecamatan Gebang
    "kapetakan": "32.09.22.2016",  # Kapetakan, kecamatan Kepetakan
}
GROUP_NAME = "Pokmas Peduli Migran Gebang Kulon"

# username, full name, role, desa key, organisation code, member of the pokmas
ACCOUNTS = [
    ("admin.demo", "Admin Jangkau", "admin", None, None, False),
    ("perangkat.waled", "Ahmad Suryadi", "officer", "waled", None, False),
    ("perangkat.gebang", "Nurhayati", "officer", "gebang", None, False),
    ("perangkat.kapetakan", "Taryono", "officer", "kapetakan", None, False),
    ("pokmas.gebang1", "Sri Wahyuni", "community", "gebang", None, True),
    ("pokmas.gebang2", "Yuyun Yuningsih", "community", "gebang", None, True),
    ("ltsa.cirebon", "Dedi Supriadi", "ltsa", None, "ltsa", False),
    ("mitra.sbmi", "Rohman Hidayat", "partner", None, "sbmi", False),
    ("mitra.wcc", "Fitri Handayani", "partner", None, "wcc_mawar_balqis", False),
]

# name, sex, age today, registered by, migration status, marital status, education
PERSONS = [
    ("Siti Nurhasanah", "P", 27, "perangkat.waled", "calon_potensial", "kawin", "smp"),
    ("Warsini", "P", 38, "perangkat.waled", "purna_pmi", "cerai_hidup", "sd"),
    ("Casmini", "P", 33, "perangkat.waled", "cpmi", "kawin", "sd"),
    ("Kusnadi", "L", 41, "perangkat.waled", "purna_pmi", "kawin", "smp"),
    ("Karsinah", "P", 45, "perangkat.waled", "keluarga_pmi", "kawin", "sd"),
    ("Nabila Putri", "P", 16, "perangkat.waled", "calon_potensial", "belum_kawin", "smp"),
    ("Eni Suhaeni", "P", 29, "perangkat.waled", "calon_potensial", "cerai_hidup", "smp"),
    ("Rasminah", "P", 35, "perangkat.waled", "pmi_aktif", "kawin", "sd"),
    ("Tarsih", "P", 50, "perangkat.waled", "purna_pmi", "cerai_mati", "sd"),
    ("Dewi Lestari", "P", 24, "perangkat.gebang", "cpmi", "belum_kawin", "sma"),
    ("Rina Marlina", "P", 31, "pokmas.gebang1", "calon_potensial", "kawin", "smp"),
    ("Wartono", "L", 36, "perangkat.gebang", "calon_potensial", "kawin", "sma"),
    ("Kartini", "P", 42, "pokmas.gebang1", "purna_pmi", "cerai_hidup", "sd"),
    ("Sumiati", "P", 28, "pokmas.gebang2", "calon_potensial", "kawin", "smp"),
    ("Darsono", "L", 47, "perangkat.gebang", "keluarga_pmi", "kawin", "sd"),
    ("Siti Khodijah", "P", 17, "pokmas.gebang2", "calon_potensial", "belum_kawin", "sma"),
    ("Cicih Sukaesih", "P", 39, "pokmas.gebang1", "purna_pmi", "kawin", "sd"),
    ("Yati Suryati", "P", 26, "perangkat.gebang", "cpmi", "kawin", "sma"),
    ("Euis Komariah", "P", 34, "pokmas.gebang2", "calon_potensial", "kawin", "smp"),
    ("Masriah", "P", 44, "pokmas.gebang2", "purna_pmi", "cerai_mati", "sd"),
    ("Rizky Maulana", "L", 15, "perangkat.gebang", "keluarga_pmi", "belum_kawin", "smp"),
    ("Dariah", "P", 32, "perangkat.kapetakan", "calon_potensial", "kawin", "sd"),
    ("Rasmadi", "L", 29, "perangkat.kapetakan", "calon_potensial", "belum_kawin", "sma"),
    ("Suniah", "P", 37, "perangkat.kapetakan", "purna_pmi", "cerai_hidup", "sd"),
    ("Kuraesin", "P", 23, "perangkat.kapetakan", "cpmi", "belum_kawin", "smp"),
    ("Titin Supriatin", "P", 30, "perangkat.kapetakan", "calon_potensial", "kawin", "smp"),
    ("Wartini", "P", 48, "perangkat.kapetakan", "keluarga_pmi", "cerai_mati", "sd"),
    ("Iis Rohaeti", "P", 25, "perangkat.kapetakan", "calon_potensial", "belum_kawin", "sma"),
    ("Carsono", "L", 52, "perangkat.kapetakan", "purna_pmi", "kawin", "sd"),
    ("Nining Kurniasih", "P", 35, "perangkat.kapetakan", "calon_potensial", "kawin", "smp"),
]

# For the children: (guardian's name, relation).
GUARDIANS = {
    "Nabila Putri": ("Tarmidi", "ayah"),
    "Siti Khodijah": ("Maemunah", "ibu"),
    "Rizky Maulana": ("Darsono", "ayah"),
}

ALL_DOCS = ["surat_status_perkawinan", "surat_izin_keluarga", "sertifikat_kompetensi",
            "surat_kesehatan", "paspor", "visa_kerja", "perjanjian_penempatan",
            "perjanjian_kerja"]

# person name: (country, sector, scheme, agency, informal recruiter, fee asked, documents held)
PLANS = {
    "Siti Nurhasanah": ("TW", "pengasuh_lansia", "p3mi", "PT Cahaya Mitra Sejati", False, None, 2),
    "Warsini": ("TW", "plrt", "tidak_diketahui", "", True, 18_000_000, 1),
    "Casmini": ("HK", "plrt", "p3mi", "PT Bina Karya Lintas Negara", False, None, 5),
    "Nabila Putri": ("MY", "plrt", "perseorangan", "", True, 5_000_000, 0),
    "Eni Suhaeni": ("SG", "plrt", "tidak_diketahui", "", True, 12_000_000, 1),
    "Dewi Lestari": ("JP", "pengasuh_lansia", "p3mi", "PT Nusantara Kaigo Indonesia", False,
                     None, 6),
    "Rina Marlina": ("TW", "plrt", "tidak_diketahui", "", True, 25_000_000, 1),
    "Wartono": ("KR", "operator_produksi", "g2g", "", False, None, 4),
    "Sumiati": ("SA", "plrt", "tidak_diketahui", "", True, 8_000_000, 0),
    "Siti Khodijah": ("TW", "operator_produksi", "tidak_diketahui", "", False, None, 0),
    "Yati Suryati": ("TW", "operator_produksi", "p3mi", "PT Cahaya Mitra Sejati", False, None, 8),
    "Euis Komariah": ("HK", "plrt", "p3mi", "PT Bina Karya Lintas Negara", False, None, 2),
    "Dariah": ("TW", "pengasuh_lansia", "p3mi", "PT Cahaya Mitra Sejati", False, None, 3),
    "Rasmadi": ("JP", "operator_produksi", "p3mi", "PT Karya Samudra Nusantara", False, None, 1),
    "Kuraesin": ("SG", "plrt", "p3mi", "PT Bina Karya Lintas Negara", False, None, 5),
    "Titin Supriatin": ("MY", "operator_produksi", "tidak_diketahui", "", True, 7_500_000, 0),
    "Iis Rohaeti": ("TW", "plrt", "tidak_diketahui", "", True, 22_000_000, 1),
    "Nining Kurniasih": ("HK", "plrt", "p3mi", "PT Bina Karya Lintas Negara", False, None, 1),
}

# Referrals, oldest first: person, days ago, services, case category, urgency,
# status path ("sbmi"/"wcc" marks the forward), reason, outcome.
REFERRALS = [
    ("Siti Nurhasanah", 160, ["informasi_migrasi_aman", "konsultasi_pra_penempatan",
                              "ak1_antarkerja"], None, "biasa",
     ["terkirim", "diterima", "dijadwalkan", "dilayani", "selesai"],
     "Ingin bekerja ke Taiwan sebagai pengasuh lansia; perlu informasi prosedur resmi dan "
     "kartu AK/I.",
     "Sudah konsultasi pra-penempatan dan mendapat kartu AK/I; diarahkan ke P3MI terdaftar."),
    ("Warsini", 150, ["pengaduan_kasus", "bantuan_hukum"], "gaji_tidak_dibayar", "segera",
     ["terkirim", "diterima", "sbmi", "dilayani", "selesai"],
     "Purna PMI dari Arab Saudi; gaji 7 bulan terakhir belum dibayar majikan.",
     "SBMI mendampingi pengaduan ke KP2MI; sebagian gaji dibayarkan lewat agensi."),
    ("Carsono", 140, ["konsultasi_purna", "dukcapil"], "deportasi", "biasa",
     ["terkirim", "diterima", "dijadwalkan", "dilayani", "selesai"],
     "Dideportasi dari Malaysia; KTP hilang, perlu bantuan adminduk dan reintegrasi.",
     "KTP elektronik diterbitkan ulang; ikut konsultasi purna."),
    ("Karsinah", 135, ["pengaduan_kasus"], "hilang_kontak", "darurat",
     ["terkirim", "diterima", "dilayani", "selesai"],
     "Anak perempuannya bekerja di Malaysia, tidak bisa dihubungi sejak 3 bulan.",
     "Kontak tersambung lagi melalui KBRI Kuala Lumpur; anak dalam keadaan sehat."),
    ("Tarsih", 120, ["konsultasi_purna", "pelatihan"], None, "biasa",
     ["terkirim", "diterima", "dijadwalkan", "dilayani", "selesai"],
     "Purna PMI, ingin membuka usaha di desa.",
     "Ikut pelatihan usaha olahan makanan untuk purna PMI."),
    ("Kartini", 110, ["layanan_responsif_gender", "konseling_psikososial"],
     "kekerasan_majikan", "darurat",
     ["terkirim", "diterima", "wcc", "dilayani", "selesai"],
     "Pulang dari Hong Kong setelah mengalami kekerasan dari majikan; masih trauma.",
     "Konseling psikososial 4 sesi di WCC Mawar Balqis; kondisi membaik."),
    ("Dewi Lestari", 100, ["rekomendasi_paspor_imigrasi", "skck_kepolisian", "dukcapil"],
     None, "biasa",
     ["terkirim", "diterima", "dijadwalkan", "dilayani", "selesai"],
     "CPMI ke Jepang (pengasuh lansia); perlu rekomendasi paspor dan SKCK.",
     "Rekomendasi paspor dan SKCK selesai diurus."),
    ("Rina Marlina", 90, ["informasi_migrasi_aman", "pengaduan_kasus"], "biaya_berlebih",
     "segera",
     ["terkirim", "diterima", "sbmi", "dilayani", "selesai"],
     "Sponsor meminta Rp25 juta untuk berangkat ke Taiwan sebagai PLRT.",
     "Dijelaskan biaya penempatan yang sah; SBMI melaporkan sponsor ke BP3MI Jawa Barat."),
    ("Wartono", 80, ["informasi_migrasi_aman", "ak1_antarkerja"], None, "biasa",
     ["terkirim", "diterima", "dijadwalkan", "dilayani", "selesai"],
     "Ingin ikut program G to G ke Korea Selatan.",
     "Diberi informasi EPS-TOPIK dan jadwal pendaftaran; kartu AK/I terbit."),
    ("Suniah", 75, ["layanan_responsif_gender", "konseling_psikososial", "konsultasi_purna"],
     "pelecehan_seksual", "segera",
     ["terkirim", "diterima", "wcc", "dilayani", "selesai"],
     "Purna PMI dari Arab Saudi; mengalami pelecehan seksual di tempat kerja.",
     "Pendampingan psikososial dan hukum oleh WCC Mawar Balqis."),
    ("Eni Suhaeni", 70, ["informasi_migrasi_aman", "konsultasi_pra_penempatan"],
     "biaya_berlebih", "biasa",
     ["terkirim", "diterima", "dijadwalkan", "tidak_hadir"],
     "Ditawari kerja ke Singapura oleh calo dengan biaya Rp12 juta.", ""),
    ("Sumiati", 60, ["informasi_migrasi_aman"], "lainnya", "segera",
     ["terkirim", "diterima", "dijadwalkan", "dibatalkan"],
     "Akan berangkat ke Arab Saudi lewat sponsor, padahal penempatan PLRT perseorangan "
     "ditutup.", ""),
    ("Siti Khodijah", 55, ["informasi_migrasi_aman"], None, "biasa",
     ["terkirim", "diterima", "dijadwalkan", "dilayani", "selesai"],
     "Umur 17 tahun, ingin bekerja di pabrik di Taiwan setelah lulus SMA.",
     "Dijelaskan syarat usia minimal 18 tahun (UU 18/2017 Pasal 5); diarahkan ke "
     "pelatihan kerja."),
    ("Rizky Maulana", 40, ["pengaduan_kasus", "konseling_psikososial"], "hilang_kontak",
     "segera",
     ["terkirim", "diterima", "dijadwalkan", "tidak_hadir", "dijadwalkan", "dilayani"],
     "Ibunya PMI di Taiwan, tidak ada kabar sejak 2 bulan; anak perlu pendampingan.", ""),
    ("Dariah", 35, ["konsultasi_pra_penempatan", "kesehatan"], None, "biasa",
     ["terkirim", "diterima", "dijadwalkan", "tidak_hadir"],
     "CPMI ke Taiwan; perlu pemeriksaan kesehatan dan konsultasi pra-penempatan.", ""),
    ("Nabila Putri", 30, ["informasi_migrasi_aman", "konseling_psikososial"], "tppo",
     "segera",
     ["terkirim", "diterima", "wcc", "dilayani"],
     "Anak 16 tahun ditawari calo kerja ke Malaysia dengan umur dipalsukan.", ""),
    ("Casmini", 25, ["rekomendasi_paspor_imigrasi", "kesehatan", "bpjs_tk"], None, "biasa",
     ["terkirim", "diterima", "dijadwalkan", "dilayani"],
     "CPMI ke Hong Kong lewat P3MI terdaftar; mengurus paspor, kesehatan dan BPJS.", ""),
    ("Cicih Sukaesih", 20, ["pengaduan_kasus", "bantuan_hukum"], "penahanan_dokumen",
     "segera",
     ["terkirim", "diterima", "sbmi", "dilayani"],
     "Paspor dan ijazah ditahan agensi setelah pulang dari Malaysia.", ""),
    ("Kusnadi", 12, ["pengaduan_kasus", "bantuan_hukum"], "gaji_tidak_dibayar", "segera",
     ["terkirim", "diterima", "sbmi"],
     "Mantan ABK kapal ikan Taiwan; gaji 5 bulan tidak dibayar.", ""),
    ("Iis Rohaeti", 8, ["informasi_migrasi_aman", "pengaduan_kasus"], "biaya_berlebih",
     "segera",
     ["terkirim", "diterima", "dijadwalkan"],
     "Calo meminta Rp22 juta untuk kerja PLRT di Taiwan.", ""),
    ("Yati Suryati", 4, ["bpjs_tk", "perbankan"], None, "biasa",
     ["terkirim", "diterima"],
     "CPMI ke Taiwan; perlu BPJS Ketenagakerjaan dan rekening bank.", ""),
    ("Kuraesin", 2, ["rekomendasi_paspor_imigrasi", "dukcapil"], None, "biasa",
     ["terkirim"],
     "CPMI ke Singapura; nama di KK dan KTP berbeda, perlu perbaikan sebelum paspor.", ""),
]

# Hours between one status and the next: (from, to) -> (fewest, most).
GAPS = {
    ("terkirim", "diterima"): (2, 30),
    ("diterima", "dijadwalkan"): (4, 48),
    ("diterima", "dilayani"): (4, 48),
    ("diterima", "dirujuk_lanjut"): (4, 72),
    ("dijadwalkan", "dilayani"): (48, 240),
    ("dijadwalkan", "tidak_hadir"): (48, 240),
    ("dijadwalkan", "dibatalkan"): (24, 120),
    ("tidak_hadir", "dijadwalkan"): (24, 96),
    ("dirujuk_lanjut", "dilayani"): (24, 120),
    ("dilayani", "selesai"): (24, 480),
}

# A note added after the last status, by whoever holds the referral then.
FOLLOW_UP_NOTES = {
    "Kusnadi": "Berkas pengaduan disiapkan; menunggu salinan perjanjian kerja dari agensi.",
    "Nabila Putri": "Orang tua sudah dihubungi; calo dilaporkan ke Polres Cirebon.",
    "Casmini": "Jadwal pemeriksaan kesehatan ulang minggu depan.",
}

STATUS_NOTES = {
    "diterima": "Rujukan diterima meja LTSA.",
    "dijadwalkan": "Dijadwalkan datang ke LTSA Kabupaten Cirebon.",
    "dilayani": "Warga sudah datang dan dilayani.",
    "tidak_hadir": "Warga tidak datang pada jadwal; sudah dihubungi lewat perangkat desa.",
    "dibatalkan": "Warga memutuskan tidak jadi berangkat; rujukan dibatalkan.",
}

# visit type: (how many, women, men, children, topics)
VISIT_MIX = {
    "sosialisasi": (9, (12, 35), (4, 15), (0, 6), (3, 5)),
    "kunjungan_rumah": (8, (1, 3), (0, 2), (0, 2), (1, 3)),
    "pendataan": (5, (3, 10), (1, 4), (0, 0), (1, 2)),
    "verifikasi_data": (3, (2, 6), (0, 3), (0, 0), (0, 1)),
    "fasilitasi_adminduk": (3, (2, 8), (1, 4), (0, 3), (0, 1)),
    "pantau_berangkat": (2, (1, 3), (0, 2), (0, 0), (1, 2)),
    "pantau_pulang": (3, (1, 3), (0, 1), (0, 1), (1, 2)),
    "pemberdayaan": (3, (8, 20), (0, 4), (0, 3), (1, 2)),
    "pendampingan_kasus": (2, (1, 2), (0, 1), (0, 1), (1, 1)),
    "rapat_koordinasi": (2, (4, 8), (5, 10), (0, 0), (1, 3)),
}
VISIT_NOTES = {
    "sosialisasi": ["Sosialisasi migrasi aman di balai desa.",
                    "Sosialisasi bersama pengajian ibu-ibu; banyak tanya soal biaya ke Taiwan.",
                    "Sosialisasi di posyandu; dibagikan leaflet saluran pengaduan."],
    "kunjungan_rumah": ["Kunjungan ke rumah keluarga PMI.",
                        "Menemui warga yang didatangi sponsor.",
                        "Kunjungan ke purna PMI yang baru pulang."],
    "pendataan": ["Pendataan calon PMI di blok ini.", "Pendataan CPMI bersama kader."],
    "verifikasi_data": ["Verifikasi data CPMI untuk rekomendasi desa."],
    "fasilitasi_adminduk": ["Membantu perbaikan KK dan akta kelahiran.",
                            "Fasilitasi surat izin keluarga diketahui kuwu."],
    "pantau_berangkat": ["Memantau keberangkatan CPMI lewat P3MI terdaftar."],
    "pantau_pulang": ["Memantau kepulangan PMI dari Malaysia.",
                      "Purna PMI pulang dari Hong Kong; sudah dicatat."],
    "pemberdayaan": ["Pelatihan usaha olahan makanan untuk purna PMI.",
                     "Pertemuan kelompok keluarga PMI: pengelolaan remitansi."],
    "pendampingan_kasus": ["Mendampingi keluarga melapor ke LTSA."],
    "rapat_koordinasi": ["Rapat koordinasi dengan kuwu, BPD dan pokmas.",
                         "Rapat koordinasi dengan Disnaker dan LTSA."],
}
BLOKS = ["Blok Manis", "Blok Pahing", "Blok Pon", "Blok Kliwon", "Blok Wage", "Blok Legi",
         "Blok Sabtu", "Blok Jumat"]
PHONE_PREFIXES = ["12", "13", "21", "22", "23", "52", "53", "57", "59", "77", "78", "95",
                  "96", "97", "98", "31", "32", "38", "81", "82", "83", "87", "88"]
COUNTED = ("users", "community_groups", "visits", "persons", "consents", "migration_plans",
           "referrals", "referral_events")
# Columns that are bookkeeping, not the record's own fields, for field_clocks.
_BOOKKEEPING = {"id", "created_by_id", "created_at", "updated_at", "change_seq",
                "field_clocks", "deleted_hlc"}


def demo_usernames() -> list[str]:
    return [a[0] for a in ACCOUNTS]


def accounts_table(session) -> list[dict]:
    """The demo accounts with role and scope, for the table the command prints."""
    names = {r.code: r.name for r in session.execute(
        sa.select(Region).where(Region.code.in_(
            list(DESA.values()) + [c.rsplit(".", 1)[0] for c in DESA.values()])))
        .scalars()}
    orgs = {o.code: o.name for o in session.execute(sa.select(Organisation)).scalars()}
    rows = []
    for username, full_name, role, desa_key, org_code, member in ACCOUNTS:
        if desa_key:
            code = DESA[desa_key]
            scope = f"Desa {names.get(code, code)}, Kec. {names.get(code[:8], code[:8])}"
            if member:
                scope = f"{GROUP_NAME} ({scope})"
        elif org_code:
            scope = orgs.get(org_code, org_code)
        else:
            scope = "Kabupaten Cirebon (semua data / all data)"
        rows.append({"username": username, "full_name": full_name, "role": role,
                     "role_label": ROLES[role][0], "scope": scope})
    return rows


def load_demo(session, today: dt.date | None = None, seed: int = DEFAULT_SEED) -> dict:
    """Add the demo dataset (not committed); skips it when the demo accounts exist.

    Returns {"created", "password", "accounts", "counts"}; counts are of rows added.
    """
    existing = session.execute(
        sa.select(sa.func.count()).select_from(User).where(User.username.in_(demo_usernames()))
    ).scalar_one()
    result = {"created": existing == 0, "password": DEMO_PASSWORD}
    if existing:
        result["counts"] = dict.fromkeys(COUNTED, 0)
        result["accounts"] = accounts_table(session)
        return result
    missing = [c for c in DESA.values() if session.get(Region, c) is None]
    if missing:
        raise LookupError(f"Regions not loaded ({', '.join(missing)}): run "
                          "`flask --app server init` first.")
    ensure_organisations(session)
    builder = _Builder(session, today or dt.date.today(), random.Random(seed))
    result["counts"] = builder.build()
    result["accounts"] = accounts_table(session)
    return result


class _Builder:
    """Builds the dataset in a fixed order, so one seed always draws the same numbers."""

    def __init__(self, session, today: dt.date, rng: random.Random):
        self.session = session
        self.today = today
        self.rng = rng
        # Everything happens before today began, in Cirebon time.
        self.now = dt.datetime.combine(today, dt.time(0, 0), WIB).astimezone(dt.UTC)
        self.users: dict[str, User] = {}
        self.users_by_id: dict[int, User] = {}
        self.orgs: dict[str, Organisation] = {}
        self.persons: dict[str, Person] = {}
        self.used_niks: set[str] = set()
        self.pending: dict[str, list] = {key: [] for key in COUNTED}

    def build(self) -> dict:
        self._accounts()
        self._visits()
        forwarded = {r[0] for r in REFERRALS if {"sbmi", "wcc"} & set(r[5])}
        referral_start = {}
        for ref in REFERRALS:
            referral_start[ref[0]] = self._referral_start(ref[1])
        for row in PERSONS:
            self._person(row, referral_start.get(row[0]), row[0] in forwarded)
        for ref in REFERRALS:
            self._referral(ref, referral_start[ref[0]])
        # Parents before children: the models have foreign keys but no relationships that
        # would tell the flush the order.
        for keys in (("visits", "persons"), ("consents", "migration_plans", "referrals"),
                     ("referral_events",)):
            for key in keys:
                self.session.add_all(self.pending[key])
            self.session.flush()
        return {key: len(rows) for key, rows in self.pending.items()}

    # Helpers

    def _add(self, obj, key: str) -> None:
        self.pending[key].append(obj)

    def _at(self, day: dt.date, earliest: int = 8, latest: int = 16) -> dt.datetime:
        """A time in working hours (WIB) on the day, as UTC."""
        minutes = self.rng.randint(earliest * 60, latest * 60 - 1)
        local = dt.datetime.combine(day, dt.time(minutes // 60, minutes % 60), WIB)
        return local.astimezone(dt.UTC)

    def _later(self, at: dt.datetime, lo: float, hi: float) -> dt.datetime:
        """Between lo and hi hours after `at`, moved into the next working hours (WIB)."""
        local = (at + dt.timedelta(hours=self.rng.uniform(lo, hi))).astimezone(WIB)
        if not 8 <= local.hour < 16:
            day = local.date() + dt.timedelta(days=1 if local.hour >= 16 else 0)
            local = dt.datetime.combine(day, dt.time(8, 0), WIB) + dt.timedelta(
                minutes=self.rng.randint(0, 90))
        return local.replace(second=0, microsecond=0).astimezone(dt.UTC)

    def _stamp(self, obj: SyncedRecord, at: dt.datetime, author: User) -> str:
        """Set creator, times and, as a phone would, the HLC of the write for every field;
        returns that HLC."""
        obj.created_by_id = author.id
        obj.created_at = obj.updated_at = at
        clock = hlc.encode(int(at.timestamp() * 1000), 0, f"demo-{author.username}")
        fields = [c.key for c in sa.inspect(type(obj)).column_attrs
                  if c.key not in _BOOKKEEPING]
        obj.field_clocks = dict.fromkeys(fields, clock)
        return clock

    def _birth_date(self, age: int) -> dt.date:
        """A birth date giving `age` whole years today."""
        latest = _years_before(self.today, age)
        earliest = _years_before(self.today, age + 1) + dt.timedelta(days=1)
        return earliest + dt.timedelta(days=self.rng.randint(0, (latest - earliest).days))

    def _nik(self, desa_code: str, sex: str, birth: dt.date) -> str:
        """A valid NIK: kecamatan of the desa, birth date (women +40), a serial not 0000."""
        region = desa_code.replace(".", "")[:6]
        day = birth.day + (40 if sex == "P" else 0)
        while True:
            nik = f"{region}{day:02d}{birth:%m%y}{self.rng.randint(1, 9999):04d}"
            if nik not in self.used_niks:
                self.used_niks.add(nik)
                return nik

    def _phone(self) -> str:
        return f"+628{self.rng.choice(PHONE_PREFIXES)}{self.rng.randint(0, 10**8 - 1):08d}"

    # The dataset

    def _accounts(self) -> None:
        password_hash = hash_password(DEMO_PASSWORD)  # one slow hash for all demo accounts
        self.orgs = {o.code: o for o in self.session.execute(sa.select(Organisation)).scalars()}
        group = CommunityGroup(name=GROUP_NAME, desa_code=DESA["gebang"],
                               created_at=self.now - dt.timedelta(days=HISTORY_DAYS + 30))
        self._add(group, "community_groups")
        self.session.add(group)
        self.session.flush()
        for username, full_name, role, desa_key, org_code, member in ACCOUNTS:
            desa_code = DESA[desa_key] if desa_key else None
            org = self.orgs[org_code] if org_code else None
            check_scope(role, desa_code, org, group if member else None)
            user = User(username=username, full_name=full_name, password_hash=password_hash,
                        role=role, desa_code=desa_code,
                        organisation_id=org.id if org else None,
                        community_group_id=group.id if member else None,
                        created_at=self.now - dt.timedelta(days=HISTORY_DAYS + 20))
            self._add(user, "users")
            self.users[username] = user
        self.session.add_all(self.pending["users"])
        self.session.flush()
        self.users_by_id = {u.id: u for u in self.users.values()}

    def _visits(self) -> None:
        authors = (["perangkat.waled"] * 12 + ["perangkat.gebang"] * 8
                   + ["pokmas.gebang1"] * 5 + ["pokmas.gebang2"] * 5
                   + ["perangkat.kapetakan"] * 10)
        types = [t for t, mix in VISIT_MIX.items() for _ in range(mix[0])]
        self.rng.shuffle(types)
        topics = list(TOPICS)
        for author_name, visit_type in zip(authors, types, strict=True):
            author = self.users[author_name]
            _, women, men, children, n_topics = VISIT_MIX[visit_type]
            day = self.today - dt.timedelta(days=self.rng.randint(1, HISTORY_DAYS))
            visit = OutreachVisit(
                visit_type=visit_type, visit_date=day, desa_code=author.desa_code,
                dusun=self.rng.choice(BLOKS), rt=f"{self.rng.randint(1, 8):03d}",
                rw=f"{self.rng.randint(1, 4):03d}",
                community_group_id=author.community_group_id,
                topics=self.rng.sample(topics, self.rng.randint(*n_topics)),
                participants_female=self.rng.randint(*women),
                participants_male=self.rng.randint(*men),
                participants_children=self.rng.randint(*children),
                notes=self.rng.choice(VISIT_NOTES[visit_type]),
            )
            # Recorded on the phone in the afternoon after the visit.
            self._stamp(visit, self._at(day, 13, 18), author)
            self._add(visit, "visits")

    def _referral_start(self, days_ago: int) -> dt.datetime:
        day = self.today - dt.timedelta(days=days_ago + self.rng.randint(-1, 2))
        return self._at(day)

    def _person(self, row: tuple, referral_start: dt.datetime | None, forwarded: bool) -> None:
        name, sex, age, registrar_name, status, marital, education = row
        registrar = self.users[registrar_name]
        if referral_start is not None:
            # Registered on the visit that led to the referral, or some days before it.
            day = (referral_start.astimezone(WIB).date()
                   - dt.timedelta(days=self.rng.randint(0, 10)))
            registered = min(self._at(day), referral_start - dt.timedelta(minutes=30))
        else:
            day = self.today - dt.timedelta(days=self.rng.randint(5, HISTORY_DAYS - 10))
            registered = self._at(day)
        birth = self._birth_date(age)
        community = registrar.role == "community"
        person = Person(
            id=new_uuid(), name=name, sex=sex, birth_date=birth, desa_code=registrar.desa_code,
            nik=self._nik(registrar.desa_code, sex, birth) if self.rng.random() < 0.7 else None,
            phone=self._phone() if age >= 17 or self.rng.random() < 0.3 else None,
            address=f"{self.rng.choice(BLOKS)} RT {self.rng.randint(1, 8):03d}/RW "
                    f"{self.rng.randint(1, 4):03d}",
            marital_status=marital, education=education, disability=False,
            migration_status=status,
            lawful_basis="persetujuan" if community else "tugas_publik",
            community_group_id=registrar.community_group_id,
        )
        self._stamp(person, registered, registrar)
        self._add(person, "persons")
        self.persons[name] = person

        purposes = ["pencatatan", "kontak_lanjutan"]
        if referral_start is not None:
            purposes.append("rujukan_ltsa")
        if forwarded:
            purposes.append("rujukan_mitra")
        # A child's data needs a parent's or guardian's consent (UU PDP Pasal 25).
        guardian_name, guardian_relation = GUARDIANS.get(name, (None, None))
        method = (self.rng.choice(["centang", "rekaman"]) if community
                  else self.rng.choice(["tanda_tangan", "tanda_tangan", "centang"]))
        consent = Consent(person_id=person.id, purposes=purposes, notice_version=NOTICE_VERSION,
                          method=method, guardian_name=guardian_name,
                          guardian_relation=guardian_relation, given_at=registered)
        self._stamp(consent, registered, registrar)
        self._add(consent, "consents")

        if name in PLANS:
            country, sector, scheme, agency, recruiter, fee, n_docs = PLANS[name]
            plan = MigrationPlan(person_id=person.id, destination_country=country,
                                 sector=sector, scheme=scheme, agency_name=agency,
                                 informal_recruiter=recruiter, fee_asked=fee,
                                 documents=ALL_DOCS[:n_docs])
            self._stamp(plan, registered + dt.timedelta(minutes=5), registrar)
            self._add(plan, "migration_plans")

    def _referral(self, row: tuple, start: dt.datetime) -> None:
        name, _, services, category, urgency, path, reason, outcome = row
        person = self.persons[name]
        referrer = self.users_by_id[person.created_by_id]
        ltsa = self.users["ltsa.cirebon"]
        referral = Referral(
            id=new_uuid(), person_id=person.id, desa_code=person.desa_code,
            community_group_id=person.community_group_id, services=services, reason=reason,
            case_category=category, urgency=urgency, outcome=outcome,
            is_child=person.age_on(start.astimezone(WIB).date()) < 18,
            assigned_organisation_id=self.orgs["ltsa"].id,
        )
        self._stamp(referral, start, referrer)
        self._add(referral, "referrals")

        events = []
        at, previous, partner = start, None, None
        for step in path:
            status = "dirujuk_lanjut" if step in ("sbmi", "wcc") else step
            if previous is not None:
                at = self._later(at, *GAPS[(previous, status)])
            # The village side sends and withdraws; the LTSA desk runs the referral until it
            # forwards it; then the partner acts on it.
            author = (referrer if status in ("terkirim", "dibatalkan")
                      else partner or ltsa)
            event = ReferralEvent(id=new_uuid(), referral_id=referral.id, kind="status",
                                  status=status, note=STATUS_NOTES.get(status, ""),
                                  author_role=author.role)
            # An event names an organisation only when it hands the referral to one.
            if status == "dirujuk_lanjut":
                org = self.orgs["sbmi" if step == "sbmi" else "wcc_mawar_balqis"]
                event.organisation_id = referral.assigned_organisation_id = org.id
                event.note = f"Dirujuk lanjut ke {org.name}."
                partner = self.users["mitra.sbmi" if step == "sbmi" else "mitra.wcc"]
            elif status == "selesai":
                event.note = outcome
            event.hlc = self._stamp(event, at, author)
            events.append(event)
            previous = status
        if name in FOLLOW_UP_NOTES:
            author = partner or ltsa
            at = self._later(at, 2, 48)
            event = ReferralEvent(id=new_uuid(), referral_id=referral.id, kind="note",
                                  note=FOLLOW_UP_NOTES[name], author_role=author.role)
            event.hlc = self._stamp(event, at, author)
            events.append(event)
        if at >= self.now:
            raise ValueError(f"the demo referral of {name} runs past today: start it earlier")
        for event in events:
            self._add(event, "referral_events")
        status, flagged = derive_status(
            {"id": e.id, "kind": e.kind, "status": e.status, "hlc": e.hlc,
             "author_role": e.author_role} for e in events)
        if flagged:
            raise ValueError(f"the demo referral of {name} breaks the status rules: {flagged}")
        referral.status = status
        referral.updated_at = at


def _years_before(day: dt.date, years: int) -> dt.date:
    """The same calendar day `years` earlier (28 February for 29 February)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)
