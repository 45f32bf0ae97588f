"""Enumerations of the domain, each code with its Bahasa Indonesia and English label."""

from sync.referral_status import STATUS_LABELS

ROLES = {
    "officer": ("Perangkat Desa", "Village official"),
    "community": ("Anggota Kelompok Masyarakat", "Community group member"),
    "ltsa": ("Petugas LTSA", "LTSA desk staff"),
    "partner": ("Petugas Mitra", "Partner staff"),
    "admin": ("Admin", "Admin"),
}

SEXES = {"L": ("Laki-laki", "Male"), "P": ("Perempuan", "Female")}

VISIT_TYPES = {
    "sosialisasi": ("Sosialisasi", "Information session"),
    "kunjungan_rumah": ("Kunjungan rumah", "Home visit"),
    "pendataan": ("Pendataan CPMI", "Recording prospective migrants"),
    "verifikasi_data": ("Verifikasi data", "Data verification"),
    "fasilitasi_adminduk": ("Fasilitasi adminduk", "Civil-document help"),
    "pantau_berangkat": ("Pemantauan keberangkatan", "Departure monitoring"),
    "pantau_pulang": ("Pemantauan kepulangan", "Return monitoring"),
    "pemberdayaan": ("Pemberdayaan", "Empowerment"),
    "pendampingan_kasus": ("Pendampingan kasus", "Case accompaniment"),
    "rapat_koordinasi": ("Rapat koordinasi", "Coordination meeting"),
}

# PP 59/2021 Pasal 4(4): the information a prospective migrant must receive.
TOPICS = {
    "hak_kewajiban": ("Hak dan kewajiban PMI", "Rights and obligations"),
    "lowongan_pemberi_kerja": ("Lowongan kerja dan pemberi kerja", "Vacancies and employers"),
    "jaminan_sosial": ("Jaminan sosial", "Social security"),
    "prosedur_resmi": ("Prosedur penempatan resmi", "The official procedure"),
    "biaya_penempatan": ("Biaya penempatan yang sah", "Legal placement costs"),
    "risiko": (
        "Risiko TPPO, narkoba, radikalisme dan kesehatan (termasuk kesehatan reproduksi)",
        "Risks of trafficking, narcotics, radicalisation and health (incl. reproductive)",
    ),
    "hukum_budaya_tujuan": (
        "Hukum dan budaya negara tujuan", "Destination-country law and culture"),
    "perjanjian_kerja": (
        "Perjanjian penempatan dan perjanjian kerja", "Placement and employment contracts"),
    "p3mi_terdaftar": ("P3MI terdaftar", "Registered placement agencies (P3MI)"),
    "negara_tujuan": (
        "Negara tujuan terbuka dan tertutup", "Open and closed destination countries"),
    "saluran_pengaduan": ("Saluran pengaduan", "Complaint channels"),
}

MIGRATION_STATUSES = {
    "calon_potensial": ("Calon potensial", "Prospective, not registered"),
    "cpmi": ("CPMI", "Registered prospective migrant"),
    "pmi_aktif": ("PMI aktif", "Working abroad"),
    "purna_pmi": ("Purna PMI", "Returnee"),
    "keluarga_pmi": ("Keluarga PMI", "Family member"),
}

LAWFUL_BASES = {
    "tugas_publik": ("Pelaksanaan tugas publik", "Public task"),
    "persetujuan": ("Persetujuan eksplisit", "Explicit consent"),
}

MARITAL_STATUSES = {
    "belum_kawin": ("Belum kawin", "Single"),
    "kawin": ("Kawin", "Married"),
    "cerai_hidup": ("Cerai hidup", "Divorced"),
    "cerai_mati": ("Cerai mati", "Widowed"),
}

EDUCATION_LEVELS = {
    "tidak_sekolah": ("Tidak/belum sekolah", "No schooling"),
    "sd": ("SD", "Primary"),
    "smp": ("SMP", "Lower secondary"),
    "sma": ("SMA/SMK", "Upper secondary"),
    "diploma": ("Diploma", "Diploma"),
    "sarjana": ("Sarjana", "University degree"),
}

SECTORS = {
    "plrt": ("Penata laksana rumah tangga", "Domestic work"),
    "pengasuh_lansia": ("Pengasuh lansia", "Caregiver"),
    "operator_produksi": ("Operator produksi", "Manufacturing"),
    "perkebunan": ("Perkebunan", "Plantation"),
    "pertanian_musiman": ("Pertanian musiman", "Seasonal farming"),
    "konstruksi": ("Konstruksi", "Construction"),
    "perikanan_abk": ("Perikanan / ABK", "Fishing crew"),
    "cleaning_service": ("Cleaning service", "Cleaning service"),
    "lainnya": ("Lainnya", "Other"),
}

SCHEMES = {
    "p3mi": ("P3MI (perusahaan penempatan)", "Private placement agency"),
    "g2g": ("G to G", "Government to government"),
    "ukps": ("UKPS (perusahaan untuk kepentingan sendiri)", "Company placing its own staff"),
    "perseorangan": ("Perseorangan", "Individual"),
    "tidak_diketahui": ("Tidak diketahui", "Unknown"),
}

# UU 18/2017 Pasal 13: the documents a prospective migrant needs.
DOCUMENTS = {
    "surat_status_perkawinan": ("Surat keterangan status perkawinan", "Marital-status letter"),
    "surat_izin_keluarga": (
        "Surat izin suami/istri/orang tua/wali diketahui kepala desa",
        "Permission of spouse/parent/guardian acknowledged by the village head",
    ),
    "sertifikat_kompetensi": ("Sertifikat kompetensi kerja", "Competency certificate"),
    "surat_kesehatan": ("Surat keterangan sehat", "Health certificate"),
    "paspor": ("Paspor", "Passport"),
    "visa_kerja": ("Visa kerja", "Work visa"),
    "perjanjian_penempatan": ("Perjanjian penempatan", "Placement agreement"),
    "perjanjian_kerja": ("Perjanjian kerja", "Employment contract"),
}

CONSENT_METHODS = {
    "tanda_tangan": ("Tanda tangan", "Signed"),
    "rekaman": ("Rekaman suara", "Recorded"),
    "centang": ("Centang di layar", "Ticked on screen"),
}

CONSENT_PURPOSES = {
    "pencatatan": ("Pencatatan calon PMI oleh desa", "Recording by the village"),
    "rujukan_ltsa": ("Rujukan ke LTSA", "Referral to the LTSA"),
    "rujukan_mitra": (
        "Rujukan ke organisasi mitra (SBMI, WCC)", "Referral to partner organisations"),
    "kontak_lanjutan": ("Dihubungi untuk tindak lanjut", "Follow-up contact"),
}

URGENCIES = {
    "biasa": ("Biasa", "Normal"),
    "segera": ("Segera", "Urgent"),
    "darurat": ("Darurat", "Emergency"),
}

SERVICES = {
    # Migrant Worker Resource Centre
    "informasi_migrasi_aman": ("Informasi migrasi aman", "Safe-migration information"),
    "konsultasi_pra_penempatan": ("Konsultasi pra-penempatan", "Pre-departure consultation"),
    "konsultasi_purna": ("Konsultasi purna dan reintegrasi", "Return and reintegration"),
    "pengaduan_kasus": ("Pengaduan dan penanganan kasus", "Complaint and case handling"),
    "bantuan_hukum": ("Bantuan hukum", "Legal aid"),
    "konseling_psikososial": ("Konseling psikososial", "Psychosocial counselling"),
    "layanan_responsif_gender": (
        "Layanan kekerasan berbasis gender", "Gender-based violence services"),
    "pelatihan": ("Pelatihan", "Training"),
    # LTSA desks
    "ak1_antarkerja": ("Kartu AK/I (pencari kerja)", "Job-seeker card"),
    "dukcapil": ("Dukcapil (adminduk)", "Civil registry"),
    "kesehatan": ("Pemeriksaan kesehatan", "Health"),
    "rekomendasi_paspor_imigrasi": ("Rekomendasi paspor (imigrasi)", "Passport recommendation"),
    "skck_kepolisian": ("SKCK (kepolisian)", "Police certificate"),
    "bpjs_tk": ("BPJS Ketenagakerjaan", "Social security"),
    "perbankan": ("Perbankan", "Banking"),
}

# The Bahasa Indonesia labels live with the status rules (sync/referral_status.py).
_STATUS_EN = {
    "terkirim": "Sent",
    "diterima": "Received",
    "dijadwalkan": "Scheduled",
    "dilayani": "Being served",
    "dirujuk_lanjut": "Forwarded to a partner",
    "selesai": "Closed",
    "tidak_hadir": "No-show",
    "dikembalikan": "Handed back to the LTSA",
    "dibatalkan": "Withdrawn",
}
REFERRAL_STATUSES = {code: (label, _STATUS_EN[code]) for code, label in STATUS_LABELS.items()}

CASE_CATEGORIES = {
    "ingin_dipulangkan": ("Ingin dipulangkan", "Wants repatriation"),
    "gaji_tidak_dibayar": ("Gaji tidak dibayar", "Unpaid wages"),
    "gagal_berangkat": ("Gagal berangkat", "Failed departure"),
    "penipuan_kerja": ("Penipuan kerja", "Job fraud"),
    "biaya_berlebih": ("Biaya penempatan berlebih", "Overcharging"),
    "pekerjaan_tidak_sesuai_pk": ("Pekerjaan tidak sesuai PK", "Job not as contracted"),
    "kekerasan_majikan": ("Kekerasan dari majikan", "Employer violence"),
    "pelecehan_seksual": ("Pelecehan seksual", "Sexual harassment"),
    "penahanan_dokumen": ("Penahanan dokumen", "Documents withheld"),
    "hilang_kontak": ("Hilang kontak", "Lost contact"),
    "sakit": ("Sakit", "Illness"),
    "meninggal": ("Meninggal dunia", "Death"),
    "deportasi": ("Deportasi", "Deportation"),
    "tidak_berdokumen": ("Tidak berdokumen", "Undocumented"),
    "tppo": ("TPPO (perdagangan orang)", "Trafficking"),
    "phk_sepihak": ("PHK sepihak", "Early termination"),
    "jaminan_sosial": ("Klaim jaminan sosial", "Social-security claim"),
    "lainnya": ("Lainnya", "Other"),
}

ORGANISATION_KINDS = {
    "ltsa": ("LTSA", "One-roof service centre"),
    "mrc": ("Migrant Worker Resource Centre", "Migrant Worker Resource Centre"),
    "ngo": ("Organisasi masyarakat sipil", "Non-governmental organisation"),
    "pemerintah": ("Instansi pemerintah", "Government office"),
}
