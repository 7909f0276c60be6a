//! Closed vocabularies of the domain, stored as short strings so that the same
//! schema works on SQLite and PostgreSQL. Values are the codes GePI and INPS use
//! (Italian, upper snake case), except roles, which use the policy ids of
//! `policies/`.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident, $case:literal, { $($(#[$vmeta:meta])* $variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
        #[sea_orm(rs_type = "String", db_type = "String(StringLen::N(40))", rename_all = $case)]
        #[serde(rename_all = $case)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        /// The first code: only the compiled reads use it, to fill a column of a
        /// row they did not select (and do not read).
        impl Default for $name {
            fn default() -> Self {
                <Self as sea_orm::Iterable>::iter().next().expect("a code")
            }
        }
    };
}

string_enum!(
    /// A role of a profile or of an API client; the ids are those of `policies/`.
    Role, "snake_case", {
    MinistryAdmin, AmbitoAdmin, PaisCoordinator, CaseManager, RegistryCheckCoordinator,
    RegistryCheckOfficer, PucManager, SupportActivationOfficer, MeetingRegistrar,
    DisadvantageValidator, Analyst, InpsFeed, CpiPartner,
});

impl Role {
    /// Roles held by API clients (integration partners), never by a person's profile.
    pub fn is_api_client_role(self) -> bool {
        matches!(self, Role::InpsFeed | Role::CpiPartner)
    }
    /// The policy id, e.g. `case_manager`.
    pub fn as_str(self) -> String {
        self.to_value()
    }
}

string_enum!(
    /// Accreditation state of an operator (domain spec §2.1).
    OperatorStatus, "SCREAMING_SNAKE_CASE", { Requested, PendingAccreditation, Active, Suspended, Revoked });
string_enum!(
    /// Whether a role assignment is in force: `SUSPENDED` can be reinstated, `REVOKED` is final.
    ProfileStatus, "SCREAMING_SNAKE_CASE", { Active, Suspended, Revoked });
string_enum!(
    /// Fund paying for an accredited professional (domain spec §1.4): the Quota
    /// servizi of the Fondo Povertà, the PON Inclusione 2014-2020, the PN Inclusione
    /// e lotta alla povertà 2021-2027, a regional FSE+ programme, the budget of a
    /// Comune or of the Ambito, or another source.
    FundingSource, "SCREAMING_SNAKE_CASE", {
    FondoPoverta, PonInclusione, PnInclusione, FsePlusRegionale, BilancioComunale, BilancioAmbito, Altro });
string_enum!(
    /// Form of associated management of an Ambito.
    ManagementForm, "SCREAMING_SNAKE_CASE", { CapofilaComune, Consorzio, AziendaSpeciale, Altro });
string_enum!(
    /// Kind of convention between a Comune and its Ambito.
    ConventionKind, "SCREAMING_SNAKE_CASE", { UsoGepi, Puc });
string_enum!(
    /// How a session was authenticated.
    AuthMethod, "snake_case", { Dev, Spid });
string_enum!(
    /// The measure an application is for.
    Measure, "SCREAMING_SNAKE_CASE", { Rdc, Pdc, Adi, Sfl });
string_enum!(
    /// INPS-side state of an application (domanda).
    ApplicationStatus, "SCREAMING_SNAKE_CASE", {
    Acquisita, Verificata, Accolta, Annullata, Decaduta, InEvidenza, Sospesa, FinePeriodo, Revocata });
string_enum!(
    /// Registry sex of a member.
    Sex, "SCREAMING_SNAKE_CASE", { M, F });
string_enum!(
    /// Relation of a member to the applicant.
    FamilyRelation, "SCREAMING_SNAKE_CASE", { Richiedente, Coniuge, Figlio, Genitore, Fratello, Altro });
string_enum!(
    /// State of a case (presa in carico), domain spec §2.3.
    CaseState, "SCREAMING_SNAKE_CASE", {
    DaAssegnare, Assegnato, Convocato, ApInCorso, QdaInCorso, PattoInDefinizione,
    InviatoAltroServizio, InMonitoraggio, Chiuso, Trasferito });
string_enum!(
    /// ADI pathway type produced by the multidimensional analysis.
    PathwayType, "SCREAMING_SNAKE_CASE", {
    ObbligoAttivazione, OpzioneAttivazione, OpzioneSfl, ObbligoSocialeOpzioneLavoro });
string_enum!(
    /// State of the Analisi preliminare.
    AnalysisState, "SCREAMING_SNAKE_CASE", { Bozza, Completata });
string_enum!(
    /// Outcome (routing) of the Analisi preliminare.
    AnalysisOutcome, "SCREAMING_SNAKE_CASE", {
    PaisSemplificato, QuadroAnalisi, Cpi, ServiziSpecialistici, NessunPercorso });
string_enum!(
    /// State of the Quadro di analisi.
    FrameworkState, "SCREAMING_SNAKE_CASE", { DaAvviare, InCorso, Completato });
string_enum!(
    /// Service a member of the équipe multidisciplinare comes from.
    TeamService, "SCREAMING_SNAKE_CASE", {
    ServiziSociali, Asl, Cpi, Scuola, Serd, Csm, TerzoSettore, Altro });
string_enum!(
    /// State of a version of the Patto per l'inclusione sociale.
    PactState, "SCREAMING_SNAKE_CASE", { Bozza, Sottoscritto, Chiuso, NonSottoscritto });
string_enum!(
    /// The six areas of the multidimensional analysis.
    NeedArea, "SCREAMING_SNAKE_CASE", {
    FunzionamentoPersonaleSociale, SituazioneEconomica, SituazioneLavorativa,
    EducazioneFormazione, CondizioneAbitativa, RetiFamiliariSociali });
string_enum!(
    /// Progress of a commitment (impegno) of the pact.
    CommitmentStatus, "SCREAMING_SNAKE_CASE", { DaAvviare, InCorso, Rispettato, NonRispettato });
string_enum!(
    /// Kind of support (sostegno) from the LEPS catalogue.
    SupportKind, "SCREAMING_SNAKE_CASE", {
    TirocinioInclusione, SostegnoSocioEducativo, AssistenzaDomiciliare, SostegnoGenitorialita,
    MediazioneFamiliare, MediazioneCulturale, ProntoInterventoSociale,
    ServizioSocialeProfessionale, Altro });
string_enum!(
    /// Activation state of a support.
    SupportStatus, "SCREAMING_SNAKE_CASE", { DaAttivare, Attivo, Concluso, Annullato });
string_enum!(
    /// Kind of segnalazione (report of a sanctionable fact or failed check).
    ReportKind, "SCREAMING_SNAKE_CASE", {
    MancataPresentazione, MancataSottoscrizione, RifiutoPuc, AbbandonoPuc,
    RequisitoResidenza, RequisitoSoggiorno, ComposizioneDifforme, AltroFattoSanzionabile });
string_enum!(
    /// State of a segnalazione, domain spec §2.9.
    ReportState, "SCREAMING_SNAKE_CASE", { Bozza, DaApprovare, Inviata, Rifiutata, Rettificata, Acquisita, Annullata });
string_enum!(
    /// Which partner an event of the change feed is for.
    PartnerAudience, "SCREAMING_SNAKE_CASE", { Inps, Cpi });
string_enum!(
    /// What happened, in an event of the partners' change feed.
    PartnerEventKind, "SCREAMING_SNAKE_CASE", {
    SegnalazioneInviata, SegnalazioneRettificata, SegnalazioneAnnullata, EsitoControlloAnagrafico, EsitoSvantaggio, SilenzioAssenso, PattoSottoscritto,
    PucAvviato, PucConcluso, PucInterrotto, InvioCpi });
string_enum!(
    /// Kind of meeting.
    MeetingKind, "SCREAMING_SNAKE_CASE", {
    Convocazione, PresentazioneSpontanea,
    #[sea_orm(string_value = "MONITORAGGIO_90GG")] #[serde(rename = "MONITORAGGIO_90GG")] Monitoraggio90gg,
    VerificaPatto, Equipe });
string_enum!(
    /// State of a meeting, domain spec §2.5.
    MeetingState, "SCREAMING_SNAKE_CASE", {
    Pianificato, Convocato, Svolto, Valutato, AssenteGiustificato, AssenteIngiustificato, Annullato });
string_enum!(
    /// Channel a convocation was sent through.
    ConvocationChannel, "SCREAMING_SNAKE_CASE", { Sms, Email, NotificaSiisl, Raccomandata, Telefono });
string_enum!(
    /// Field of activity of a PUC.
    PucField, "SCREAMING_SNAKE_CASE", {
    Culturale, Sociale, Artistico, Ambientale, Formativo, TutelaBeniComuni });
string_enum!(
    /// State of a PUC project, domain spec §2.8.
    PucProjectState, "SCREAMING_SNAKE_CASE", { Bozza, Attivo, Completo, Concluso, Annullato });
string_enum!(
    /// Source of the beneficiary a PUC place is reserved for.
    PlaceSource, "SCREAMING_SNAKE_CASE", { Comune, Cpi, Volontario });
string_enum!(
    /// State of a PUC assignment, domain spec §2.8.
    PucAssignmentState, "SCREAMING_SNAKE_CASE", { DaAssegnare, Proposto, Attivo, Completato, Interrotto });
string_enum!(
    /// Why a PUC assignment was interrupted.
    InterruptionReason, "SCREAMING_SNAKE_CASE", { Rinuncia, Decadenza, FineBeneficio, Assunzione, Trasferimento, Altro });
string_enum!(
    /// Attendance of a day of PUC.
    AttendanceStatus, "SCREAMING_SNAKE_CASE", { Presente, AssenteGiustificato, AssenteIngiustificato });
string_enum!(
    /// What a residency check (controllo anagrafico) verifies.
    ResidencyCheckKind, "SCREAMING_SNAKE_CASE", {
    Residenza, Soggiorno, ComposizioneNucleo, ContinuitaResidenzaExpost });
string_enum!(
    /// State of a residency check, domain spec §2.6.
    ResidencyCheckState, "SCREAMING_SNAKE_CASE", {
    DaAssegnare, Assegnato, InLavorazione, Inoltrato, InAttesaInteressato,
    EsitoPositivo, EsitoNegativo, InviatoInps });
string_enum!(
    /// Outcome of a residency check.
    ResidencyOutcome, "SCREAMING_SNAKE_CASE", { Positivo, Negativo, NonDeterminabile });

string_enum!(
    /// Why a residency outcome contradicts the requirement computed from the
    /// recorded periods.
    ResidencyOverrideReason, "SCREAMING_SNAKE_CASE", {
    DocumentazioneInteressato, PeriodiNonRegistrati, RettificaAnagrafica, IrreperibilitaAccertata, Altro });
string_enum!(
    /// Category of the condizione di svantaggio (DM 160/2023). Special-category data.
    DisadvantageCategory, "SCREAMING_SNAKE_CASE", {
    DisturbiMentali, Disabilita, Dipendenze, VittimeTratta, VittimeViolenzaGenere,
    ExDetenuti, FragilitaAccoglienza, SenzaDimora, NeomaggiorenniFuoriFamiglia });
string_enum!(
    /// Stored state of a disadvantage validation; expiry by silence is computed from the deadline.
    DisadvantageState, "SCREAMING_SNAKE_CASE", { Ricevuta, InVerifica, Confermata, NonConfermata });
string_enum!(
    /// Who acted, in an audit event.
    ActorKind, "snake_case", { Operator, ApiClient, System, Anonymous });
string_enum!(
    /// What was done, in an audit event.
    AuditAction, "snake_case", {
    Read, Create, Update, Assign, Transition, Export, Login, LoginFailed, Logout, LogoutRefused, SwitchProfile,
    Purge, Anonymise });

string_enum!(
    /// State of a case transfer between Ambiti.
    TransferState, "SCREAMING_SNAKE_CASE", { Richiesto, Accettato, Rifiutato, Ritirato });
string_enum!(
    /// Why a case transfer is requested.
    TransferReason, "SCREAMING_SNAKE_CASE", { CambioResidenza, SegnalazioneInps, ControlloAnagrafico });
string_enum!(
    /// Why the receiving Ambito rejects a case transfer.
    TransferRejectionReason, "SCREAMING_SNAKE_CASE", {
    ResidenzaNonConfermata, ComuneNonCompetente, GiaInCarico, Altro });
string_enum!(
    /// Where a case is referred.
    ReferralTarget, "SCREAMING_SNAKE_CASE", { Cpi, ServiziSpecialistici });
string_enum!(
    /// State of a referral.
    ReferralState, "SCREAMING_SNAKE_CASE", { InAttesa, PresoInCarico, Chiuso });
