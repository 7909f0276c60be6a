//! GraphQL enums mirroring the stored vocabularies of `entity::enums`; values
//! are the GraphQL convention of the same codes (e.g. `DA_ASSEGNARE`).

use async_graphql::Enum;

macro_rules! gql_enum {
    ($(#[$m:meta])* $view:ident, $name:literal, $remote:literal, { $($v:ident),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
        #[graphql(name = $name, remote = $remote)]
        pub enum $view { $($v),+ }

        impl $crate::graphql::out::Out for $view {
            fn out(self) -> async_graphql::Value {
                async_graphql::resolver_utils::enum_value(self)
            }
        }
    };
}

gql_enum!(
    /// Accreditation state of an operator (domain spec §2.1).
    OperatorStatusView, "OperatorStatus", "entity::enums::OperatorStatus", { Requested, PendingAccreditation, Active, Suspended, Revoked });
gql_enum!(
    /// Whether a role assignment is in force: `SUSPENDED` can be reinstated, `REVOKED` is final.
    ProfileStatusView, "ProfileStatus", "entity::enums::ProfileStatus", { Active, Suspended, Revoked });
gql_enum!(
    /// Fund paying for an accredited professional: Quota servizi del Fondo Povertà,
    /// PON Inclusione 2014-2020, PN Inclusione e lotta alla povertà 2021-2027, a
    /// regional FSE+ programme, the budget of a Comune or of the Ambito, other.
    FundingSourceView, "FundingSource", "entity::enums::FundingSource", { FondoPoverta, PonInclusione, PnInclusione, FsePlusRegionale, BilancioComunale, BilancioAmbito, Altro });
gql_enum!(
    /// Form of associated management of an Ambito.
    ManagementFormView, "ManagementForm", "entity::enums::ManagementForm", { CapofilaComune, Consorzio, AziendaSpeciale, Altro });
gql_enum!(
    /// Kind of convention between a Comune and its Ambito.
    ConventionKindView, "ConventionKind", "entity::enums::ConventionKind", { UsoGepi, Puc });
gql_enum!(
    /// How a session was authenticated.
    AuthMethodView, "AuthMethod", "entity::enums::AuthMethod", { Dev, Spid });
gql_enum!(
    /// The measure an application is for.
    MeasureView, "Measure", "entity::enums::Measure", { Rdc, Pdc, Adi, Sfl });
gql_enum!(
    /// INPS-side state of an application (domanda).
    ApplicationStatusView, "ApplicationStatus", "entity::enums::ApplicationStatus", { Acquisita, Verificata, Accolta, Annullata, Decaduta, InEvidenza, Sospesa, FinePeriodo });
gql_enum!(
    /// Registry sex of a member.
    SexView, "Sex", "entity::enums::Sex", { M, F });
gql_enum!(
    /// Relation of a member to the applicant.
    FamilyRelationView, "FamilyRelation", "entity::enums::FamilyRelation", { Richiedente, Coniuge, Figlio, Genitore, Fratello, Altro });
gql_enum!(
    /// State of a case (presa in carico), domain spec §2.3.
    CaseStateView, "CaseState", "entity::enums::CaseState", { DaAssegnare, Assegnato, Convocato, ApInCorso, QdaInCorso, PattoInDefinizione, InviatoAltroServizio, InMonitoraggio, Chiuso, Trasferito });
gql_enum!(
    /// ADI pathway type produced by the multidimensional analysis.
    PathwayTypeView, "PathwayType", "entity::enums::PathwayType", { ObbligoAttivazione, OpzioneAttivazione, OpzioneSfl, ObbligoSocialeOpzioneLavoro });
gql_enum!(
    /// State of the Analisi preliminare.
    AnalysisStateView, "AnalysisState", "entity::enums::AnalysisState", { Bozza, Completata });
gql_enum!(
    /// Outcome (routing) of the Analisi preliminare.
    AnalysisOutcomeView, "AnalysisOutcome", "entity::enums::AnalysisOutcome", { PaisSemplificato, QuadroAnalisi, Cpi, ServiziSpecialistici, NessunPercorso });
gql_enum!(
    /// State of the Quadro di analisi.
    FrameworkStateView, "FrameworkState", "entity::enums::FrameworkState", { DaAvviare, InCorso, Completato });
gql_enum!(
    /// Service a member of the équipe multidisciplinare comes from.
    TeamServiceView, "TeamService", "entity::enums::TeamService", { ServiziSociali, Asl, Cpi, Scuola, Serd, Csm, TerzoSettore, Altro });
gql_enum!(
    /// State of a version of the Patto per l'inclusione sociale.
    PactStateView, "PactState", "entity::enums::PactState", { Bozza, Sottoscritto, Chiuso, NonSottoscritto });
gql_enum!(
    /// The six areas of the multidimensional analysis.
    NeedAreaView, "NeedArea", "entity::enums::NeedArea", { FunzionamentoPersonaleSociale, SituazioneEconomica, SituazioneLavorativa, EducazioneFormazione, CondizioneAbitativa, RetiFamiliariSociali });
gql_enum!(
    /// Progress of a commitment (impegno) of the pact.
    CommitmentStatusView, "CommitmentStatus", "entity::enums::CommitmentStatus", { DaAvviare, InCorso, Rispettato, NonRispettato });
gql_enum!(
    /// Kind of support (sostegno) from the LEPS catalogue.
    SupportKindView, "SupportKind", "entity::enums::SupportKind", { TirocinioInclusione, SostegnoSocioEducativo, AssistenzaDomiciliare, SostegnoGenitorialita, MediazioneFamiliare, MediazioneCulturale, ProntoInterventoSociale, ServizioSocialeProfessionale, Altro });
gql_enum!(
    /// Activation state of a support.
    SupportStatusView, "SupportStatus", "entity::enums::SupportStatus", { DaAttivare, Attivo, Concluso, Annullato });
gql_enum!(
    /// Kind of segnalazione (report of a sanctionable fact or failed check).
    ReportKindView, "ReportKind", "entity::enums::ReportKind", { MancataPresentazione, MancataSottoscrizione, RifiutoPuc, AbbandonoPuc, RequisitoResidenza, RequisitoSoggiorno, ComposizioneDifforme, AltroFattoSanzionabile });
gql_enum!(
    /// State of a segnalazione, domain spec §2.9.
    ReportStateView, "ReportState", "entity::enums::ReportState", { Bozza, DaApprovare, Inviata, Rifiutata, Rettificata });
/// Kind of meeting.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "MeetingKind", remote = "entity::enums::MeetingKind")]
pub enum MeetingKindView {
    Convocazione,
    PresentazioneSpontanea,
    #[graphql(name = "MONITORAGGIO_90GG")]
    Monitoraggio90gg,
    VerificaPatto,
    Equipe,
}

impl crate::graphql::out::Out for MeetingKindView {
    fn out(self) -> async_graphql::Value {
        async_graphql::resolver_utils::enum_value(self)
    }
}
gql_enum!(
    /// State of a meeting, domain spec §2.5.
    MeetingStateView, "MeetingState", "entity::enums::MeetingState", { Pianificato, Convocato, Svolto, Valutato, AssenteGiustificato, AssenteIngiustificato, Annullato });
gql_enum!(
    /// Channel a convocation was sent through.
    ConvocationChannelView, "ConvocationChannel", "entity::enums::ConvocationChannel", { Sms, Email, NotificaSiisl, Raccomandata, Telefono });
gql_enum!(
    /// Field of activity of a PUC.
    PucFieldView, "PucField", "entity::enums::PucField", { Culturale, Sociale, Artistico, Ambientale, Formativo, TutelaBeniComuni });
gql_enum!(
    /// State of a PUC project, domain spec §2.8.
    PucProjectStateView, "PucProjectState", "entity::enums::PucProjectState", { Bozza, Attivo, Completo, Concluso, Annullato });
gql_enum!(
    /// Source of the beneficiary a PUC place is reserved for.
    PlaceSourceView, "PlaceSource", "entity::enums::PlaceSource", { Comune, Cpi, Volontario });
gql_enum!(
    /// State of a PUC assignment, domain spec §2.8.
    PucAssignmentStateView, "PucAssignmentState", "entity::enums::PucAssignmentState", { DaAssegnare, Proposto, Attivo, Completato, Interrotto });
gql_enum!(
    /// Why a PUC assignment was interrupted.
    InterruptionReasonView, "InterruptionReason", "entity::enums::InterruptionReason", { Rinuncia, Decadenza, FineBeneficio, Assunzione, Altro });
gql_enum!(
    /// Attendance of a day of PUC.
    AttendanceStatusView, "AttendanceStatus", "entity::enums::AttendanceStatus", { Presente, AssenteGiustificato, AssenteIngiustificato });
gql_enum!(
    /// What a residency check (controllo anagrafico) verifies.
    ResidencyCheckKindView, "ResidencyCheckKind", "entity::enums::ResidencyCheckKind", { Residenza, Soggiorno, ComposizioneNucleo, ContinuitaResidenzaExpost });
gql_enum!(
    /// State of a residency check, domain spec §2.6.
    ResidencyCheckStateView, "ResidencyCheckState", "entity::enums::ResidencyCheckState", { DaAssegnare, Assegnato, InLavorazione, Inoltrato, InAttesaInteressato, EsitoPositivo, EsitoNegativo, InviatoInps });
gql_enum!(
    /// Outcome of a residency check.
    ResidencyOutcomeView, "ResidencyOutcome", "entity::enums::ResidencyOutcome", { Positivo, Negativo, NonDeterminabile });
gql_enum!(
    /// Category of the condizione di svantaggio (DM 160/2023). Special-category data.
    DisadvantageCategoryView, "DisadvantageCategory", "entity::enums::DisadvantageCategory", { DisturbiMentali, Disabilita, Dipendenze, VittimeTratta, VittimeViolenzaGenere, ExDetenuti, FragilitaAccoglienza, SenzaDimora, NeomaggiorenniFuoriFamiglia });
gql_enum!(
    /// Stored state of a disadvantage validation; expiry by silence is computed from the deadline.
    DisadvantageStateView, "DisadvantageState", "entity::enums::DisadvantageState", { Ricevuta, InVerifica, Confermata, NonConfermata });
gql_enum!(
    /// Who acted, in an audit event.
    ActorKindView, "ActorKind", "entity::enums::ActorKind", { Operator, ApiClient, System, Anonymous });
gql_enum!(
    /// What was done, in an audit event.
    AuditActionView, "AuditAction", "entity::enums::AuditAction", { Read, Create, Update, Assign, Transition, Export, Login, LoginFailed, Logout, LogoutRefused, SwitchProfile });

gql_enum!(
    /// A role of a profile or API client (the policy ids of `policies/`).
    RoleView, "Role", "entity::enums::Role", {
    MinistryAdmin, AmbitoAdmin, PaisCoordinator, CaseManager, RegistryCheckCoordinator,
    RegistryCheckOfficer, PucManager, SupportActivationOfficer, MeetingRegistrar,
    DisadvantageValidator, Analyst, InpsFeed, CpiPartner });
