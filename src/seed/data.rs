//! Reference data embedded for the synthetic data set: real Ambiti territoriali
//! with real Comuni (ISTAT and Belfiore codes as published by ISTAT, population
//! for weighting), common Italian names, and foreign states of birth with their
//! Belfiore (Z) codes.

pub struct ComuneRef {
    pub istat: &'static str,
    pub belfiore: &'static str,
    pub name: &'static str,
    pub province: &'static str,
    pub population: u32,
}

pub struct AmbitoRef {
    pub code: &'static str,
    pub name: &'static str,
    pub region: &'static str,
    pub comuni: &'static [ComuneRef],
}

macro_rules! c {
    ($istat:literal, $bel:literal, $name:literal, $prov:literal, $pop:literal) => {
        ComuneRef { istat: $istat, belfiore: $bel, name: $name, province: $prov, population: $pop }
    };
}

/// Ambiti in the order `seed --ambiti K` takes them.
pub const AMBITI: &[AmbitoRef] = &[
    AmbitoRef {
        code: "LOM-MB-DESIO",
        name: "Ambito di Desio",
        region: "Lombardia",
        comuni: &[
            c!("108023", "D286", "Desio", "MB", 40397),
            c!("108010", "B105", "Bovisio-Masciago", "MB", 16596),
            c!("108019", "C566", "Cesano Maderno", "MB", 37010),
            c!("108027", "E591", "Limbiate", "MB", 33903),
            c!("108034", "F797", "Muggiò", "MB", 23208),
            c!("108035", "F944", "Nova Milanese", "MB", 22315),
            c!("108045", "L677", "Varedo", "MB", 12773),
        ],
    },
    AmbitoRef {
        code: "PUG-BA-TRIGGIANO",
        name: "Ambito di Triggiano",
        region: "Puglia",
        comuni: &[
            c!("072046", "L425", "Triggiano", "BA", 27007),
            c!("072002", "A055", "Adelfia", "BA", 17101),
            c!("072014", "B716", "Capurso", "BA", 15396),
            c!("072018", "C436", "Cellamare", "BA", 5491),
            c!("072048", "L571", "Valenzano", "BA", 17897),
        ],
    },
    AmbitoRef {
        code: "LOM-MB-MONZA",
        name: "Ambito di Monza",
        region: "Lombardia",
        comuni: &[
            c!("108033", "F704", "Monza", "MB", 119856),
            c!("108012", "B212", "Brugherio", "MB", 33170),
            c!("108049", "M017", "Villasanta", "MB", 13619),
        ],
    },
    AmbitoRef {
        code: "LOM-MB-SEREGNO",
        name: "Ambito di Seregno",
        region: "Lombardia",
        comuni: &[
            c!("108039", "I625", "Seregno", "MB", 43001),
            c!("108005", "A668", "Barlassina", "MB", 6826),
            c!("108018", "C512", "Ceriano Laghetto", "MB", 6324),
            c!("108020", "C820", "Cogliate", "MB", 8450),
            c!("108024", "E063", "Giussano", "MB", 24527),
            c!("108025", "E504", "Lazzate", "MB", 7603),
            c!("108054", "E530", "Lentate sul Seveso", "MB", 15486),
            c!("108030", "F078", "Meda", "MB", 23073),
            c!("108032", "F247", "Misinto", "MB", 5195),
            c!("108040", "I709", "Seveso", "MB", 22733),
        ],
    },
    AmbitoRef {
        code: "PUG-BA-BARI",
        name: "Ambito di Bari",
        region: "Puglia",
        comuni: &[c!("072006", "A662", "Bari", "BA", 315933)],
    },
];

/// Comuni of birth outside the seeded Ambiti (large cities people move from).
pub const BIRTH_COMUNI: &[&str] = &["H501", "F839", "F205", "L219", "G273", "A662", "D612", "A944"];

/// Foreign states of birth: (Belfiore code, ISO 3166 alpha-3 citizenship, EU member).
pub const FOREIGN_STATES: &[(&str, &str, bool)] = &[
    ("Z129", "ROU", true),
    ("Z100", "ALB", false),
    ("Z330", "MAR", false),
    ("Z138", "UKR", false),
    ("Z335", "NGA", false),
    ("Z352", "TUN", false),
];

pub const MALE_NAMES: &[&str] = &[
    "Marco",
    "Giuseppe",
    "Antonio",
    "Giovanni",
    "Francesco",
    "Luca",
    "Alessandro",
    "Andrea",
    "Matteo",
    "Lorenzo",
    "Davide",
    "Stefano",
    "Paolo",
    "Roberto",
    "Salvatore",
    "Vincenzo",
    "Michele",
    "Nicola",
    "Simone",
    "Fabio",
    "Riccardo",
    "Tommaso",
    "Gabriele",
    "Pietro",
];

pub const FEMALE_NAMES: &[&str] = &[
    "Maria",
    "Anna",
    "Giulia",
    "Francesca",
    "Sara",
    "Laura",
    "Chiara",
    "Valentina",
    "Elena",
    "Alessandra",
    "Martina",
    "Federica",
    "Silvia",
    "Paola",
    "Rosa",
    "Angela",
    "Giovanna",
    "Teresa",
    "Sofia",
    "Aurora",
    "Alice",
    "Elisa",
    "Beatrice",
    "Carmela",
];

pub const LAST_NAMES: &[&str] = &[
    "Rossi",
    "Russo",
    "Ferrari",
    "Esposito",
    "Bianchi",
    "Romano",
    "Colombo",
    "Ricci",
    "Marino",
    "Greco",
    "Bruno",
    "Gallo",
    "Conti",
    "De Luca",
    "Mancini",
    "Costa",
    "Giordano",
    "Rizzo",
    "Lombardi",
    "Moretti",
    "Barbieri",
    "Fontana",
    "Santoro",
    "Mariani",
    "Rinaldi",
    "Caruso",
    "Ferrara",
    "Galli",
    "Martini",
    "Leone",
    "Longo",
    "Gentile",
    "Martinelli",
    "Vitale",
    "Lombardo",
    "Serra",
    "Coppola",
    "De Santis",
    "D'Angelo",
    "Marchetti",
    "Parisi",
    "Villa",
    "Conte",
    "Ferraro",
    "Ferri",
    "Fabbri",
    "Bianco",
    "Marini",
    "Grasso",
    "Valentini",
];

pub const STREETS: &[&str] = &[
    "Via Roma",
    "Via Garibaldi",
    "Via Mazzini",
    "Corso Italia",
    "Via Matteotti",
    "Via Verdi",
    "Piazza della Repubblica",
    "Via Dante",
    "Via Cavour",
    "Via XX Settembre",
];

pub const PUC_TITLES: &[(&str, entity::enums::PucField)] = &[
    ("Cura del verde pubblico", entity::enums::PucField::Ambientale),
    ("Supporto alla biblioteca civica", entity::enums::PucField::Culturale),
    ("Accompagnamento anziani", entity::enums::PucField::Sociale),
    ("Manutenzione beni comuni", entity::enums::PucField::TutelaBeniComuni),
    ("Laboratori creativi per ragazzi", entity::enums::PucField::Artistico),
    ("Sportello digitale per i cittadini", entity::enums::PucField::Formativo),
];

pub const HOST_BODIES: &[&str] = &[
    "Comune",
    "Cooperativa sociale Il Ponte",
    "Associazione Auser",
    "Caritas parrocchiale",
    "Pro Loco",
    "Consorzio servizi sociali",
];
