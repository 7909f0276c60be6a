//! Case transfers (domain spec §1.7; issue 18): a household moves to another
//! Comune, and its case moves with it. The sending Ambito's coordinator
//! requests the transfer; the receiving Ambito's coordinator decides it on a
//! minimal card taken at the request (household size, Comune, dates, the stage:
//! no content), accepting it or rejecting it with a coded reason. Silence past
//! `GEPI_TRANSFER_DECISION_DAYS` working days escalates it to both Ambito
//! administrators; it never accepts itself.
//!
//! A referral (`referral`) to a Centro per l'impiego or a specialist service
//! shares the case without moving it.
//!
//! Invariants: one open request per case; accepting moves, in one transaction,
//! the case, its household, its meetings (the open
//! ones cancelled), its segnalazioni and referrals to the new Ambito and Comune
//! (its open PUC assignments end; what needs a legal basis the request did not
//! record is sealed, `policies/travel.csv`), and takes
//! the case from its case manager, so that the sending Ambito's roles lose it
//! at once (their row rules read the moved columns); both Ambiti's trails
//! record each step.

pub mod model;
pub mod referral;
pub mod service;
