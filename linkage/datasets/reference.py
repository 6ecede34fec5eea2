"""Embedded public reference data the simulator draws from.

Figures are rounded public orders of magnitude (INSEE populations, common surnames and
first names by generation, cancer epidemiology from Santé publique France / INCa). They
shape realism; they are not statistics to quote.
"""

from __future__ import annotations

# Département code -> (approximate population in thousands, region code).
# Regions: IDF, ARA, PAC, OCC, NAQ, HDF, PDL, GES, BFC, BRE, NOR, CVL, COR, DOM.
DEPARTEMENTS: dict[str, tuple[int, str]] = {
    "01": (650, "ARA"), "02": (530, "HDF"), "03": (335, "ARA"), "04": (165, "PAC"),
    "05": (141, "PAC"), "06": (1090, "PAC"), "07": (328, "ARA"), "08": (270, "GES"),
    "09": (153, "OCC"), "10": (310, "GES"), "11": (372, "OCC"), "12": (279, "OCC"),
    "13": (2040, "PAC"), "14": (695, "NOR"), "15": (144, "ARA"), "16": (352, "NAQ"),
    "17": (650, "NAQ"), "18": (302, "CVL"), "19": (240, "NAQ"), "2A": (158, "COR"),
    "2B": (182, "COR"), "21": (534, "BFC"), "22": (600, "BRE"), "23": (117, "NAQ"),
    "24": (413, "NAQ"), "25": (543, "BFC"), "26": (516, "ARA"), "27": (600, "NOR"),
    "28": (431, "CVL"), "29": (915, "BRE"), "30": (748, "OCC"), "31": (1400, "OCC"),
    "32": (191, "OCC"), "33": (1623, "NAQ"), "34": (1176, "OCC"), "35": (1079, "BRE"),
    "36": (219, "CVL"), "37": (610, "CVL"), "38": (1271, "ARA"), "39": (259, "BFC"),
    "40": (413, "NAQ"), "41": (330, "CVL"), "42": (765, "ARA"), "43": (227, "ARA"),
    "44": (1429, "PDL"), "45": (680, "CVL"), "46": (174, "OCC"), "47": (331, "NAQ"),
    "48": (76, "OCC"), "49": (818, "PDL"), "50": (495, "NOR"), "51": (566, "GES"),
    "52": (172, "GES"), "53": (307, "PDL"), "54": (733, "GES"), "55": (184, "GES"),
    "56": (759, "BRE"), "57": (1044, "GES"), "58": (204, "BFC"), "59": (2608, "HDF"),
    "60": (829, "HDF"), "61": (280, "NOR"), "62": (1465, "HDF"), "63": (662, "ARA"),
    "64": (682, "NAQ"), "65": (229, "OCC"), "66": (479, "OCC"), "67": (1140, "GES"),
    "68": (764, "GES"), "69": (1876, "ARA"), "70": (235, "BFC"), "71": (551, "BFC"),
    "72": (566, "PDL"), "73": (436, "ARA"), "74": (826, "ARA"), "75": (2165, "IDF"),
    "76": (1255, "NOR"), "77": (1421, "IDF"), "78": (1448, "IDF"), "79": (374, "NAQ"),
    "80": (570, "HDF"), "81": (389, "OCC"), "82": (260, "OCC"), "83": (1076, "PAC"),
    "84": (561, "PAC"), "85": (685, "PDL"), "86": (438, "NAQ"), "87": (374, "NAQ"),
    "88": (364, "GES"), "89": (335, "BFC"), "90": (141, "BFC"), "91": (1301, "IDF"),
    "92": (1624, "IDF"), "93": (1644, "IDF"), "94": (1407, "IDF"), "95": (1249, "IDF"),
    "971": (384, "DOM"), "972": (361, "DOM"), "973": (285, "DOM"), "974": (861, "DOM"),
    "976": (279, "DOM"),
}

# The ~20 comprehensive cancer centres (one per listed département); patients living in a
# region without a centre are treated in Île-de-France.
CANCER_CENTRE_DEPARTEMENTS: tuple[str, ...] = (
    "75", "94", "92", "69", "63", "13", "06", "31", "34", "33",
    "59", "44", "49", "67", "54", "51", "21", "35", "14", "76",
)

# INSEE country codes used in NIRs of people born abroad (99 + code).
BIRTH_COUNTRIES: dict[str, float] = {
    "352": 0.22,  # Algeria
    "350": 0.17,  # Morocco
    "139": 0.12,  # Portugal
    "351": 0.08,  # Tunisia
    "127": 0.08,  # Italy
    "134": 0.07,  # Spain
    "208": 0.04,  # Turkey
    "109": 0.03,  # Germany
    "131": 0.03,  # Belgium
    "341": 0.04,  # Senegal
    "326": 0.04,  # Côte d'Ivoire
    "243": 0.04,  # Viet Nam
    "121": 0.04,  # Poland
}

# Most common French surnames, most frequent first (INSEE births register order of
# magnitude). Accents and particles are kept as civil registration spells them.
COMMON_SURNAMES: tuple[str, ...] = (
    "MARTIN", "BERNARD", "THOMAS", "PETIT", "ROBERT", "RICHARD", "DURAND", "DUBOIS",
    "MOREAU", "LAURENT", "SIMON", "MICHEL", "LEFEBVRE", "LEROY", "ROUX", "DAVID",
    "BERTRAND", "MOREL", "FOURNIER", "GIRARD", "BONNET", "DUPONT", "LAMBERT", "FONTAINE",
    "ROUSSEAU", "VINCENT", "MULLER", "LEFÈVRE", "FAURE", "ANDRÉ", "MERCIER", "BLANC",
    "GUÉRIN", "BOYER", "GARNIER", "CHEVALIER", "FRANÇOIS", "LEGRAND", "GAUTHIER", "GARCIA",
    "PERRIN", "ROBIN", "CLÉMENT", "MORIN", "NICOLAS", "HENRY", "ROUSSEL", "MATHIEU",
    "GAUTIER", "MASSON", "MARCHAND", "DUVAL", "DENIS", "DUMONT", "MARIE", "LEMAIRE",
    "NOËL", "MEYER", "DUFOUR", "MEUNIER", "BRUN", "BLANCHARD", "GIRAUD", "JOLY",
    "RIVIÈRE", "LUCAS", "BRUNET", "GAILLARD", "BARBIER", "ARNAUD", "MARTINEZ", "GÉRARD",
    "ROCHE", "RENARD", "SCHMITT", "ROY", "LEROUX", "COLIN", "VIDAL", "CARON",
    "PICARD", "ROGER", "FABRE", "AUBERT", "LEMOINE", "RENAUD", "DUMAS", "LACROIX",
    "OLIVIER", "PHILIPPE", "BOURGEOIS", "PIERRE", "BENOÎT", "REY", "LECLERC", "PAYET",
    "ROLLAND", "LECLERCQ", "GUILLAUME", "LECOMTE", "LOPEZ", "JEAN", "DUPUY", "GUILLOT",
    "HUBERT", "BERGER", "CARPENTIER", "SANCHEZ", "DUPUIS", "MOULIN", "LOUIS", "DESCHAMPS",
    "HUET", "VASSEUR", "PEREZ", "BOUCHER", "FLEURY", "ROYER", "KLEIN", "JACQUET",
    "ADAM", "PARIS", "POIRIER", "MARTY", "AUBRY", "GUYOT", "CARRÉ", "CHARLES",
    "RENAULT", "CHARPENTIER", "MÉNARD", "MAILLARD", "BARON", "BERTIN", "BAILLY", "HERVÉ",
    "SCHNEIDER", "FERNANDEZ", "LE GALL", "COLLET", "LÉGER", "BOUVIER", "JULIEN", "PRÉVOST",
    "MILLET", "PERROT", "DANIEL", "LE ROUX", "COUSIN", "GERMAIN", "BRETON", "BESSON",
    "LANGLOIS", "RÉMY", "LE GOFF", "PELLETIER", "LÉVÊQUE", "PERRIER", "LEBLANC", "BARRÉ",
    "LEBRUN", "MARCHAL", "WEBER", "MALLET", "HAMON", "BOULANGER", "JACOB", "MONNIER",
    "MICHAUD", "RODRIGUEZ", "GUICHARD", "GILLET", "ÉTIENNE", "GRONDIN", "POULAIN", "TESSIER",
    "CHEVALLIER", "COLLIN", "CHAUVIN", "DA SILVA", "BOUCHET", "GAY", "LEMAÎTRE", "BÉNARD",
    "MARÉCHAL", "HUMBERT", "REYNAUD", "ANTOINE", "HOARAU", "PERRET", "BARTHÉLEMY", "CORDIER",
    "PICHON", "LEJEUNE", "GILBERT", "LAMY", "DELAUNAY", "PASQUIER", "CARLIER", "LAPORTE",
    "DOS SANTOS", "D'ALMEIDA", "DE SOUSA", "LE BIHAN", "LE BRIS", "N'DIAYE", "HÉBERT", "DE OLIVEIRA",
    "DU PONT", "DE LA FONTAINE", "LE CORRE", "LE MOAL", "DIALLO", "BENSAÏD", "BENHAMOU", "NGUYEN",
    "COHEN", "TRAORÉ", "HADDAD", "MOHAMED", "FERREIRA", "RODRIGUES", "PEREIRA", "GOMES",
)

# Surname roots and endings for the long tail of rare surnames (France has ~1.3 million).
SURNAME_ROOTS: tuple[str, ...] = (
    "BOUR", "CHAR", "MAR", "DEL", "LAV", "BER", "GOU", "PER", "FOU", "TOU", "ROU", "MON",
    "VAL", "BEL", "GRAN", "CHAMP", "FON", "BOIS", "LAC", "MOUL", "BRO", "CAST", "DESC",
    "GAL", "HOUD", "JOUB", "LAB", "LEB", "MAU", "PAS", "QUEN", "RAB", "SAV", "TAR",
    "VER", "VILL", "CHAB", "COUR", "DUR", "FAV", "GIR", "LAF", "LOR", "MIC", "PIC",
    "RIB", "SOUL", "TEIS", "THIB", "BAR", "CAZ", "CRO", "DOR", "ESC", "GAS", "JAM",
)
SURNAME_MIDDLES: tuple[str, ...] = ("", "", "", "A", "E", "I", "O", "ON", "AN", "ER", "EL", "IN", "OU")
SURNAME_ENDINGS: tuple[str, ...] = (
    "ET", "OT", "ARD", "AUD", "IER", "IN", "EAU", "EL", "ON", "AS", "OUX", "ARDIN",
    "ERON", "ELLE", "IAUX", "ENS", "Y", "AC", "AT", "ÈS", "ÉE", "IÈRE", "ILLON", "OIS",
)

# First names by sex and birth era (most frequent first). Compound names keep the hyphen.
FIRST_NAMES: dict[tuple[str, str], tuple[str, ...]] = {
    ("F", "before1950"): (
        "MARIE", "JEANNE", "MONIQUE", "JACQUELINE", "SIMONE", "DENISE", "YVETTE", "MADELEINE",
        "PAULETTE", "SUZANNE", "GINETTE", "ODETTE", "COLETTE", "GERMAINE", "RENÉE", "JOSETTE",
        "LUCIENNE", "HÉLÈNE", "ANDRÉE", "MICHELINE", "NICOLE", "GISÈLE", "YVONNE", "MARCELLE",
        "MARIE-THÉRÈSE", "MARIE-LOUISE", "ANNE-MARIE", "GENEVIÈVE", "THÉRÈSE", "RAYMONDE",
        "LOUISE", "ÉLIANE", "CHRISTIANE", "LÉONIE", "MARGUERITE", "ARLETTE", "HUGUETTE",
    ),
    ("F", "1950to1969"): (
        "MARIE", "MARTINE", "NATHALIE", "ISABELLE", "SYLVIE", "CATHERINE", "FRANÇOISE", "CHRISTINE",
        "BRIGITTE", "PATRICIA", "DOMINIQUE", "CHANTAL", "NICOLE", "ANNE", "VÉRONIQUE", "MARIE-CLAIRE",
        "ÉVELYNE", "MICHÈLE", "DANIELLE", "JOCELYNE", "CORINNE", "PASCALE", "FRÉDÉRIQUE", "BÉATRICE",
        "MARIE-CHRISTINE", "ANNE-MARIE", "MARIE-PIERRE", "JOSIANE", "AGNÈS", "HÉLÈNE", "LAURENCE",
        "ÉLISABETH", "GHISLAINE", "MYRIAM", "MURIEL", "MARYSE", "FABIENNE", "ÉLIANE",
    ),
    ("F", "1970after"): (
        "SANDRINE", "STÉPHANIE", "CÉLINE", "VALÉRIE", "SÉVERINE", "KARINE", "AURÉLIE", "ÉMILIE",
        "JULIE", "CAROLINE", "SOPHIE", "VIRGINIE", "ÉLODIE", "DELPHINE", "CÉCILE", "LAETITIA",
        "MÉLANIE", "AMÉLIE", "CAMILLE", "LAURE", "CLAIRE", "ANNE-SOPHIE", "MARIE", "JESSICA",
        "AUDREY", "VANESSA", "CHRISTELLE", "NADIA", "FATIMA", "ÉLISE", "ANAÏS", "MARION",
    ),
    ("M", "before1950"): (
        "JEAN", "PIERRE", "MICHEL", "ANDRÉ", "CLAUDE", "RENÉ", "ROGER", "JACQUES", "BERNARD",
        "MARCEL", "GEORGES", "LOUIS", "ROBERT", "HENRI", "GÉRARD", "MAURICE", "RAYMOND",
        "PAUL", "LUCIEN", "JEAN-PIERRE", "JEAN-CLAUDE", "JEAN-LOUIS", "ALAIN", "DANIEL", "GUY",
        "JOSEPH", "FRANÇOIS", "FERNAND", "ROLAND", "YVES", "ANDRÉ-MARIE", "LÉON", "ÉMILE",
    ),
    ("M", "1950to1969"): (
        "PHILIPPE", "PATRICK", "ALAIN", "MICHEL", "JEAN-PIERRE", "CHRISTIAN", "DANIEL", "BERNARD",
        "ÉRIC", "THIERRY", "PASCAL", "DIDIER", "GÉRARD", "DOMINIQUE", "FRANÇOIS", "JEAN-LUC",
        "JEAN-MARC", "JEAN-FRANÇOIS", "JEAN-CLAUDE", "SERGE", "GILLES", "FRÉDÉRIC",
        "JACQUES", "LAURENT", "OLIVIER", "BRUNO", "DENIS", "JOËL", "RÉGIS", "HERVÉ",
    ),
    ("M", "1970after"): (
        "NICOLAS", "SÉBASTIEN", "STÉPHANE", "CHRISTOPHE", "DAVID", "JULIEN", "FRÉDÉRIC", "LAURENT",
        "OLIVIER", "JÉRÔME", "VINCENT", "FRANCK", "CÉDRIC", "GUILLAUME", "MATHIEU", "ANTOINE",
        "THOMAS", "ALEXANDRE", "PIERRE-YVES", "JEAN-BAPTISTE", "YANNICK", "MOHAMED", "KARIM",
        "BENOÎT", "ARNAUD", "DAMIEN", "GRÉGORY", "ROMAIN", "FABRICE", "LUDOVIC",
    ),
}

# Cancer epidemiology (order of magnitude, France).
CANCERS: tuple[str, ...] = ("breast", "lung", "ovarian")
# share of male patients, mean and sd of age at diagnosis
CANCER_SEX_MALE: dict[str, float] = {"breast": 0.01, "lung": 0.64, "ovarian": 0.0}
CANCER_AGE: dict[str, tuple[float, float]] = {"breast": (62.0, 13.0), "lung": (67.0, 10.0), "ovarian": (66.0, 12.5)}
CANCER_STAGES: dict[str, tuple[float, float, float, float]] = {
    # share of stages I..IV at diagnosis
    "breast": (0.45, 0.33, 0.14, 0.08),
    "lung": (0.18, 0.08, 0.24, 0.50),
    "ovarian": (0.20, 0.07, 0.53, 0.20),
}
# yearly death hazard by stage I..IV (exponential survival; lung far more lethal)
CANCER_HAZARD: dict[str, tuple[float, float, float, float]] = {
    "breast": (0.008, 0.02, 0.07, 0.30),
    "lung": (0.10, 0.22, 0.45, 1.10),
    "ovarian": (0.03, 0.07, 0.17, 0.35),
}
CANCER_SUBTYPES: dict[str, dict[str, float]] = {
    "breast": {"HR+/HER2-": 0.72, "HER2+": 0.15, "triple-negative": 0.13},
    "lung": {"adenocarcinoma": 0.55, "squamous": 0.25, "small-cell": 0.13, "other-nsclc": 0.07},
    "ovarian": {"high-grade-serous": 0.70, "endometrioid": 0.10, "clear-cell": 0.08, "other": 0.12},
}
# ICD-10 main diagnosis codes of a cancer stay (PMSI style, no dot)
CANCER_ICD10: dict[str, tuple[str, ...]] = {
    "breast": ("C504", "C508", "C509", "C502", "C501", "C503", "C505"),
    "lung": ("C341", "C343", "C349", "C340", "C342", "C348"),
    "ovarian": ("C56",),
}
SESSION_ICD10 = {"chemotherapy": "Z511", "radiotherapy": "Z510"}
OTHER_STAY_ICD10: tuple[str, ...] = ("C787", "C795", "C793", "D709", "J189", "I269", "R53", "E86")

# Drug dispensings (ATC) by cancer, with relative frequency.
DISPENSING_ATC: dict[str, dict[str, float]] = {
    "breast": {"L02BG04": 0.25, "L02BA01": 0.18, "L02BG03": 0.12, "L01BC06": 0.06,
               "A04AA01": 0.12, "L03AA13": 0.07, "N02AA01": 0.05, "A12AX": 0.15},
    "lung": {"L01EB04": 0.12, "A04AA01": 0.25, "L03AA13": 0.12, "N02AA01": 0.2,
             "R05DA04": 0.11, "H02AB06": 0.2},
    "ovarian": {"L01XK01": 0.25, "A04AA01": 0.25, "L03AA13": 0.15, "N02AA01": 0.15, "H02AB06": 0.2},
}

# --- the clinical world: care pathways, GHM, tariffs, prices, causes of death --------------
#
# Tariffs and prices below are of the order of the public ones (ATIH GHS tariffs of the
# public sector, Ameli / base des médicaments public prices per box); they give claims
# realistic magnitudes, they are not the tariffs of any given year.

# GHM-like roots (5 characters: CMD, type letter, number; C = surgical, M = medical, Z =
# undifferentiated, as in the ATIH classification). Surgery by cancer (breast: partial,
# then total mastectomy for malignancy), medical stays by cancer (the first for stays
# coded with the cancer itself, the others for complications), sessions and palliative care.
GHM_SURGERY: dict[str, tuple[str, ...]] = {"breast": ("09C05", "09C04"), "lung": ("04C02",), "ovarian": ("13C03",)}
GHM_MEDICAL: dict[str, tuple[str, ...]] = {
    "breast": ("09M05", "09M06", "09M07"),
    "lung": ("04M07", "04M05", "04M08"),
    "ovarian": ("13M03", "13M04", "13M05"),
}
GHM_CHEMOTHERAPY_SESSION = "28Z07"
GHM_RADIOTHERAPY_SESSION = "28Z11"
GHM_PALLIATIVE = "23Z02"
PALLIATIVE_ICD10 = "Z515"

# GHS-like tariff by GHM root (euros), the stay length above which each extra night is paid
# a supplement (the GHS "borne haute"), and that supplement (euros per night).
GHS_TARIFF_EUR: dict[str, float] = {
    "09C05": 2_900.0, "09C04": 4_100.0, "04C02": 9_600.0, "13C03": 6_900.0,
    "09M05": 2_700.0, "09M06": 2_300.0, "09M07": 3_100.0,
    "04M07": 3_400.0, "04M05": 2_900.0, "04M08": 3_800.0,
    "13M03": 3_000.0, "13M04": 2_600.0, "13M05": 3_500.0,
    "28Z07": 410.0, "28Z11": 190.0, "23Z02": 6_400.0,
}
GHS_HIGH_BOUND_NIGHTS: dict[str, int] = {
    "09C05": 10, "09C04": 12, "04C02": 20, "13C03": 18, "23Z02": 30,
    **{code: 20 for code in ("09M05", "09M06", "09M07", "04M07", "04M05", "04M08", "13M03", "13M04", "13M05")},
    "28Z07": 0, "28Z11": 0,
}
GHS_EXTRA_NIGHT_EUR = 210.0

# Public price per box (euros) by ATC code.
ATC_PRICE_EUR: dict[str, float] = {
    "L02BA01": 5.2,      # tamoxifen, 30 tablets
    "L02BG03": 11.0,     # anastrozole, 30 tablets
    "L02BG04": 13.5,     # letrozole, 30 tablets
    "L01BC06": 62.0,     # capecitabine, 120 tablets
    "L01EB04": 5_100.0,  # osimertinib, 30 tablets
    "L01XK01": 4_500.0,  # olaparib, 56 tablets
    "L03AA13": 690.0,    # pegfilgrastim (G-CSF), one syringe
    "A04AA01": 15.0,     # ondansetron (antiemetic)
    "N02AA01": 10.0,     # morphine
    "A12AX": 6.5,        # calcium + vitamin D
    "H02AB06": 3.2,      # prednisolone
    "R05DA04": 2.9,      # codeine (antitussive)
    "B01AB05": 28.0,     # enoxaparin (anticoagulant), 10 syringes
}
# Drugs of the follow-up outside the pathways (the rest of the dispensing table): relative
# frequency by cancer. Pathway drugs (hormone and targeted therapies, oral chemotherapy,
# chemotherapy support, morphine at the end of life) never appear here.
BACKGROUND_ATC: dict[str, dict[str, float]] = {
    "breast": {"H02AB06": 0.3, "B01AB05": 0.4, "R05DA04": 0.3},
    "lung": {"H02AB06": 0.4, "B01AB05": 0.3, "R05DA04": 0.3},
    "ovarian": {"H02AB06": 0.3, "B01AB05": 0.5, "R05DA04": 0.2},
}

# Underlying causes of death (CépiDC, ICD-10 3 characters): the cancer's own code, or
# another cause with these relative frequencies (lung patients smoke: more COPD and
# myocardial infarctions; R99 = ill-defined).
CANCER_DEATH_ICD10: dict[str, str] = {"breast": "C50", "lung": "C34", "ovarian": "C56"}
OTHER_DEATH_CAUSES: dict[str, dict[str, float]] = {
    "breast": {"I21": 0.10, "I50": 0.12, "I64": 0.12, "J44": 0.04, "J18": 0.08, "C18": 0.08, "F03": 0.15,
               "E14": 0.05, "N18": 0.05, "X59": 0.09, "R99": 0.12},
    "lung": {"I21": 0.18, "I50": 0.10, "I64": 0.09, "J44": 0.25, "J18": 0.10, "C18": 0.04, "F03": 0.05,
             "E14": 0.05, "N18": 0.03, "X59": 0.04, "R99": 0.07},
    "ovarian": {"I21": 0.08, "I50": 0.12, "I64": 0.12, "J44": 0.04, "J18": 0.08, "C18": 0.10, "F03": 0.14,
                "E14": 0.05, "N18": 0.05, "X59": 0.08, "R99": 0.14},
}
