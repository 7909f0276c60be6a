//! GraphQL enums mirroring the stored vocabularies of `entity::enums`; values
//! are the GraphQL convention of the same codes (e.g. `DA_ASSEGNARE`). Every
//! value is described; a description names no operation (the enums are shown
//! to roles that may not see every mutation).

use async_graphql::Enum;

macro_rules! gql_enum {
    ($(#[$m:meta])* $view:ident, $name:literal, $remote:literal, { $( $(#[$vm:meta])* $v:ident ),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
        #[graphql(name = $name, remote = $remote)]
        pub enum $view { $( $(#[$vm])* $v ),+ }

        impl $crate::graphql::out::Out for $view {
            fn out(self) -> async_graphql::Value {
                async_graphql::resolver_utils::enum_value(self)
            }
        }
    };
}

gql_enum!(
    /// Accreditation state of an operator (domain spec §2.1).
    OperatorStatusView, "OperatorStatus", "entity::enums::OperatorStatus", {
        /// Accreditation requested, before the Comune indicates the person; this API records new operators
        /// as `PENDING_ACCREDITATION` instead.
        Requested,
        /// Recorded (e.g. a person a Comune indicated), with no profile accredited yet: cannot log in;
        /// becomes `ACTIVE` with its first accredited profile.
        PendingAccreditation,
        /// Accredited: logs in with SPID and acts through its profiles in force.
        Active,
        /// Suspended by the administrator: cannot log in and its sessions ended; its profiles stay and it
        /// can be reinstated.
        Suspended,
        /// Revoked, final: every profile of the operator is revoked and its sessions ended.
        Revoked,
    }
);
gql_enum!(
    /// Whether a role assignment is in force: `SUSPENDED` can be reinstated, `REVOKED` is final.
    ProfileStatusView, "ProfileStatus", "entity::enums::ProfileStatus", {
        /// Usable: the operator can act through it on the days of its validity.
        Active,
        /// Suspended by the administrator: its sessions ended; it can be reinstated.
        Suspended,
        /// Revoked, final: by the administrator, with its operator, or when a successor replaces it.
        Revoked,
    }
);
gql_enum!(
    /// Fund paying for an accredited professional: Quota servizi del Fondo Povertà,
    /// PON Inclusione 2014-2020, PN Inclusione e lotta alla povertà 2021-2027, a
    /// regional FSE+ programme, the budget of a Comune or of the Ambito, other.
    FundingSourceView, "FundingSource", "entity::enums::FundingSource", {
        /// The Quota servizi of the Fondo Povertà.
        FondoPoverta,
        /// The PON Inclusione 2014-2020.
        PonInclusione,
        /// The PN Inclusione e lotta alla povertà 2021-2027.
        PnInclusione,
        /// A regional FSE+ programme.
        FsePlusRegionale,
        /// The budget of a Comune.
        BilancioComunale,
        /// The budget of the Ambito.
        BilancioAmbito,
        /// Another source.
        Altro,
    }
);
gql_enum!(
    /// Form of associated management of an Ambito.
    ManagementFormView, "ManagementForm", "entity::enums::ManagementForm", {
        /// A lead Comune (Comune capofila) manages the Ambito on behalf of the other Comuni.
        CapofilaComune,
        /// A consortium (consorzio) of the Comuni.
        Consorzio,
        /// An azienda speciale of the Comuni.
        AziendaSpeciale,
        /// Another form; Ambiti loaded with `gepi territory import` start with this value.
        Altro,
    }
);
gql_enum!(
    /// Kind of convention between a Comune and its Ambito.
    ConventionKindView, "ConventionKind", "entity::enums::ConventionKind", {
        /// Use of GePI: the Comune is the controller of its data on this basis; profiles working on the
        /// Comune's own data (registry checks, PUC, meetings, disadvantage) need one in force.
        UsoGepi,
        /// Running PUC (Progetti Utili alla Collettività).
        Puc,
    }
);
gql_enum!(
    /// How a session was authenticated.
    AuthMethodView, "AuthMethod", "entity::enums::AuthMethod", {
        /// Development login trusting the codice fiscale given: only with `--demo` or `GEPI_DEV_LOGIN=true`,
        /// on a loopback address.
        Dev,
        /// SPID login, at level 2 or higher.
        Spid,
    }
);
gql_enum!(
    /// The measure an application is for.
    MeasureView, "Measure", "entity::enums::Measure", {
        /// Reddito di Cittadinanza (DL 4/2019), 2019-2023: legacy records.
        Rdc,
        /// Pensione di Cittadinanza (DL 4/2019), the measure introduced with the RdC: legacy records.
        Pdc,
        /// Assegno di Inclusione (DL 48/2023), from January 2024.
        Adi,
        /// Supporto Formazione e Lavoro, from September 2023: GePI handles only its residency checks and PUC.
        Sfl,
    }
);
gql_enum!(
    /// INPS-side state of an application (domanda).
    ApplicationStatusView, "ApplicationStatus", "entity::enums::ApplicationStatus", {
        /// Received by INPS (acquisita).
        Acquisita,
        /// Checked by INPS (verificata); the household has yet to sign the PAD on SIISL.
        Verificata,
        /// Accepted subject to further checks (accolta salvo ulteriori controlli), after the household signed
        /// the PAD; INPS then sends the household to the social services of its Comune.
        Accolta,
        /// Cancelled (annullata).
        Annullata,
        /// Decadenza declared by INPS, e.g. after an unjustified absence or another sanctionable fact; the
        /// household may apply again after 6 months.
        Decaduta,
        /// In evidenza alla sede: held by the INPS office for anomalies in the DSU.
        InEvidenza,
        /// Payments suspended: no meeting within 120 days of the PAD, or the 90-day update missed; lifted,
        /// with arrears, once the meeting is registered.
        Sospesa,
        /// The 18 monthly payments are over; the benefit can be renewed with a new PAD.
        FinePeriodo,
        /// Revoked by INPS (revoca): the requirements were found missing from the start, and what was
        /// paid is recovered.
        Revocata,
    }
);
gql_enum!(
    /// Registry sex of a member.
    SexView, "Sex", "entity::enums::Sex", {
        /// Male, as recorded in the registry.
        M,
        /// Female, as recorded in the registry.
        F,
    }
);
gql_enum!(
    /// Relation of a member to the applicant.
    FamilyRelationView, "FamilyRelation", "entity::enums::FamilyRelation", {
        /// The applicant (richiedente).
        Richiedente,
        /// Spouse (coniuge) of the applicant.
        Coniuge,
        /// Child (figlio or figlia) of the applicant.
        Figlio,
        /// Parent (genitore) of the applicant.
        Genitore,
        /// Brother or sister (fratello or sorella) of the applicant.
        Fratello,
        /// Any other relation.
        Altro,
    }
);
gql_enum!(
    /// State of a case (presa in carico), domain spec §2.3.
    CaseStateView, "CaseState", "entity::enums::CaseState", {
        /// Received after the household signed the PAD, with no case manager yet; the Coordinatore per il
        /// Patto assigns it.
        DaAssegnare,
        /// Assigned to a case manager, who has not yet convened the household.
        Assegnato,
        /// The household was convened to its first meeting, not yet held.
        Convocato,
        /// The first meeting (or a spontaneous presentation) was held: the Analisi preliminare is in progress.
        ApInCorso,
        /// The Analisi preliminare found complex needs: the Quadro di analisi, with the équipe
        /// multidisciplinare, is in progress.
        QdaInCorso,
        /// The Patto per l'inclusione sociale is being drafted, after the Analisi preliminare or the Quadro
        /// di analisi.
        PattoInDefinizione,
        /// The Analisi preliminare routed the household to the CPI, to specialist services or to no pathway:
        /// no Patto is drafted; the analysis can be reopened.
        InviatoAltroServizio,
        /// The Patto is signed: the case is monitored, with an update every 90 days; the Patto can be revised.
        InMonitoraggio,
        /// Closed: the benefit ended, was revoked or fell into decadenza; nothing more can be done on it.
        Chiuso,
        /// Transferred: the household moved to another Comune; nothing more can be done on it here.
        Trasferito,
    }
);
gql_enum!(
    /// ADI pathway type produced by the multidimensional analysis.
    PathwayTypeView, "PathwayType", "entity::enums::PathwayType", {
        /// Obligation of work and social activation.
        ObbligoAttivazione,
        /// Option of work and social activation.
        OpzioneAttivazione,
        /// Option to join the Supporto Formazione e Lavoro (SFL).
        OpzioneSfl,
        /// Obligation of social activation, with the option of work activation.
        ObbligoSocialeOpzioneLavoro,
    }
);
gql_enum!(
    /// State of the Analisi preliminare.
    AnalysisStateView, "AnalysisState", "entity::enums::AnalysisState", {
        /// Being written by the case manager: opened at the first meeting, or reopened.
        Bozza,
        /// Completed with its outcome, which routed the case; it can be reopened.
        Completata,
    }
);
gql_enum!(
    /// Outcome (routing) of the Analisi preliminare.
    AnalysisOutcomeView, "AnalysisOutcome", "entity::enums::AnalysisOutcome", {
        /// No complex needs: the Patto is written on the basis of the Analisi preliminare alone; the case
        /// goes to `PATTO_IN_DEFINIZIONE`.
        PaisSemplificato,
        /// Complex needs: a Quadro di analisi with an équipe multidisciplinare follows; the case goes to
        /// `QDA_IN_CORSO`.
        QuadroAnalisi,
        /// Referral to the Centro per l'impiego (CPI), where members activable to work sign a Patto di
        /// servizio personalizzato; the case goes to `INVIATO_ALTRO_SERVIZIO`.
        Cpi,
        /// The need is mainly in charge of specialist services (health, mental health, addiction); the case
        /// goes to `INVIATO_ALTRO_SERVIZIO`.
        ServiziSpecialistici,
        /// No pathway (e.g. the household is exempt); the case goes to `INVIATO_ALTRO_SERVIZIO`.
        NessunPercorso,
    }
);
gql_enum!(
    /// State of the Quadro di analisi.
    FrameworkStateView, "FrameworkState", "entity::enums::FrameworkState", {
        /// Opened when the Analisi preliminare found complex needs; the équipe is not defined yet.
        DaAvviare,
        /// The équipe multidisciplinare is defined: the analysis is in progress.
        InCorso,
        /// Completed: the case moved on to drafting the Patto.
        Completato,
    }
);
gql_enum!(
    /// Service a member of the équipe multidisciplinare comes from.
    TeamServiceView, "TeamService", "entity::enums::TeamService", {
        /// The social services (servizi sociali) of the Comune or the Ambito.
        ServiziSociali,
        /// The local health authority (ASL).
        Asl,
        /// The Centro per l'impiego (CPI).
        Cpi,
        /// A school (scuola).
        Scuola,
        /// The addiction service (SerD).
        Serd,
        /// The mental health centre (CSM).
        Csm,
        /// A third-sector body (terzo settore).
        TerzoSettore,
        /// Another service.
        Altro,
    }
);
gql_enum!(
    /// State of a version of the Patto per l'inclusione sociale.
    PactStateView, "PactState", "entity::enums::PactState", {
        /// Draft being written, to be signed or refused; a revision of a signed Patto starts here.
        Bozza,
        /// Signed by the household: the version in force.
        Sottoscritto,
        /// No longer in force: a later revision was signed.
        Chiuso,
        /// The household refused to sign the draft: a `MANCATA_SOTTOSCRIZIONE` segnalazione
        /// goes to the coordinator for approval.
        NonSottoscritto,
    }
);
gql_enum!(
    /// The six areas of the multidimensional analysis.
    NeedAreaView, "NeedArea", "entity::enums::NeedArea", {
        /// Personal and social functioning.
        FunzionamentoPersonaleSociale,
        /// Economic situation.
        SituazioneEconomica,
        /// Work situation and employability.
        SituazioneLavorativa,
        /// Education and training.
        EducazioneFormazione,
        /// Housing.
        CondizioneAbitativa,
        /// Family, proximity and social networks.
        RetiFamiliariSociali,
    }
);
gql_enum!(
    /// Progress of a commitment (impegno) of the pact.
    CommitmentStatusView, "CommitmentStatus", "entity::enums::CommitmentStatus", {
        /// Not started: every commitment starts here when the Patto is saved.
        DaAvviare,
        /// Under way.
        InCorso,
        /// Fulfilled (rispettato).
        Rispettato,
        /// Not fulfilled (non rispettato).
        NonRispettato,
    }
);
gql_enum!(
    /// Kind of support (sostegno) from the LEPS catalogue.
    SupportKindView, "SupportKind", "entity::enums::SupportKind", {
        /// Traineeship for social inclusion (tirocinio di inclusione).
        TirocinioInclusione,
        /// Socio-educational support at home or in the community, budgeting support included.
        SostegnoSocioEducativo,
        /// Home care (assistenza domiciliare).
        AssistenzaDomiciliare,
        /// Parenting support (sostegno alla genitorialità).
        SostegnoGenitorialita,
        /// Family mediation (mediazione familiare).
        MediazioneFamiliare,
        /// Cultural mediation (mediazione culturale).
        MediazioneCulturale,
        /// Social emergency response (pronto intervento sociale).
        ProntoInterventoSociale,
        /// Professional social work (servizio sociale professionale).
        ServizioSocialeProfessionale,
        /// Another support.
        Altro,
    }
);
gql_enum!(
    /// Activation state of a support.
    SupportStatusView, "SupportStatus", "entity::enums::SupportStatus", {
        /// Planned in the Patto, not started yet.
        DaAttivare,
        /// Being delivered, since its activation.
        Attivo,
        /// Ended, on the day recorded as its end.
        Concluso,
        /// Cancelled: it will not take place, or it stopped.
        Annullato,
    }
);
gql_enum!(
    /// Kind of segnalazione (report of a sanctionable fact or failed check).
    ReportKindView, "ReportKind", "entity::enums::ReportKind", {
        /// Absence, without a justified reason, from a meeting the household was convened to; drafted when
        /// the absence is recorded.
        MancataPresentazione,
        /// Refusal to sign the Patto, raised when it is refused; to be sent to INPS within 5 days.
        MancataSottoscrizione,
        /// Refusal of a proposed PUC; can be drafted when a `PROPOSTO` assignment is interrupted.
        RifiutoPuc,
        /// Abandonment of a PUC under way; can be drafted when an `ATTIVO` assignment is interrupted.
        AbbandonoPuc,
        /// Residence requirement not met: raised by a negative residency check.
        RequisitoResidenza,
        /// Permit of stay (soggiorno) requirement not met.
        RequisitoSoggiorno,
        /// Household composition differing from the one declared for the ISEE.
        ComposizioneDifforme,
        /// Another fact that may lead to a sanction (decadenza or revoca), described in the segnalazione.
        AltroFattoSanzionabile,
    }
);
gql_enum!(
    /// State of a segnalazione, domain spec §2.9.
    ReportStateView, "ReportState", "entity::enums::ReportState", {
        /// Draft, not yet submitted; absences and PUC interruptions are drafted this way.
        Bozza,
        /// Submitted, awaiting the decision of the competent coordinator.
        DaApprovare,
        /// Approved by the coordinator and sent to INPS.
        Inviata,
        /// Rejected by the coordinator, with a comment: not sent.
        Rifiutata,
        /// Sent to INPS, then replaced by its approved rectification (which names it in `rectificationOf`).
        Rettificata,
        /// Sent to INPS, which recorded its protocol on it (`inpsAck`).
        Acquisita,
        /// Sent to INPS, then withdrawn: its annulment (a segnalazione with `annuls` true naming it in
        /// `rectificationOf`) was approved.
        Annullata,
    }
);
gql_enum!(
    /// What happened, in an event of the partners' change feed.
    PartnerEventKindView, "PartnerEventKind", "entity::enums::PartnerEventKind", {
        /// A coordinator approved a segnalazione: it is sent to INPS (the event names it).
        SegnalazioneInviata,
        /// The rectification of a segnalazione already sent was approved: the event names the rectification
        /// (sent to INPS), whose `rectificationOf` names the segnalazione it replaces (now `RETTIFICATA`).
        SegnalazioneRettificata,
        /// The annulment of a segnalazione already sent was approved: the event names the annulment, whose
        /// `rectificationOf` names the segnalazione withdrawn (now `ANNULLATA`).
        SegnalazioneAnnullata,
        /// The Comune of residence finalised a residency check INPS requested (`ESITO_POSITIVO` or
        /// `ESITO_NEGATIVO`: a negative one also becomes a segnalazione once approved).
        EsitoControlloAnagrafico,
        /// The certifying Comune decided a request to validate the condizione di svantaggio.
        EsitoSvantaggio,
        /// A request to validate the condizione di svantaggio went 60 days without a decision: it counts as
        /// confirmed (silenzio-assenso).
        SilenzioAssenso,
        /// The household signed a pact (a first one or a revision).
        PattoSottoscritto,
        /// A beneficiary started a PUC.
        PucAvviato,
        /// A beneficiary completed a PUC.
        PucConcluso,
        /// A PUC assignment was interrupted (refused, abandoned, ended early).
        PucInterrotto,
        /// A case manager referred a member (or a household) to a Centro per l'impiego: the event names the
        /// referral, with the member's codice fiscale.
        InvioCpi,
    }
);
/// Kind of meeting.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "MeetingKind", remote = "entity::enums::MeetingKind")]
pub enum MeetingKindView {
    /// A meeting the household is convened to.
    Convocazione,
    /// The household came of its own accord; recorded once held, never planned.
    PresentazioneSpontanea,
    /// The periodic update, due 90 days after the last meeting.
    #[graphql(name = "MONITORAGGIO_90GG")]
    Monitoraggio90gg,
    /// A check of the Patto's objectives and commitments.
    VerificaPatto,
    /// A meeting of the équipe multidisciplinare.
    Equipe,
}

impl crate::graphql::out::Out for MeetingKindView {
    fn out(self) -> async_graphql::Value {
        async_graphql::resolver_utils::enum_value(self)
    }
}
gql_enum!(
    /// State of a meeting, domain spec §2.5.
    MeetingStateView, "MeetingState", "entity::enums::MeetingState", {
        /// Planned, convocation not sent yet; a rescheduled meeting comes back here and needs a new one.
        Pianificato,
        /// The convocation was sent, with its channel and reference.
        Convocato,
        /// Held; a case's first meeting opens its Analisi preliminare.
        Svolto,
        /// Held, and its objectives and commitments evaluated by the case manager.
        Valutato,
        /// The household was absent for a justified reason, recorded; the meeting can be rescheduled.
        AssenteGiustificato,
        /// The household, convened, was absent without a justified reason: a `MANCATA_PRESENTAZIONE`
        /// segnalazione is drafted.
        AssenteIngiustificato,
        /// Cancelled before it took place.
        Annullato,
    }
);
gql_enum!(
    /// Channel a convocation was sent through.
    ConvocationChannelView, "ConvocationChannel", "entity::enums::ConvocationChannel", {
        /// Text message (SMS).
        Sms,
        /// E-mail.
        Email,
        /// Notification on SIISL.
        NotificaSiisl,
        /// Registered letter (raccomandata).
        Raccomandata,
        /// Phone call.
        Telefono,
    }
);
gql_enum!(
    /// Field of activity of a PUC.
    PucFieldView, "PucField", "entity::enums::PucField", {
        /// Cultural.
        Culturale,
        /// Social.
        Sociale,
        /// Artistic.
        Artistico,
        /// Environmental.
        Ambientale,
        /// Training.
        Formativo,
        /// Protection of common goods (tutela dei beni comuni).
        TutelaBeniComuni,
    }
);
gql_enum!(
    /// State of a PUC project, domain spec §2.8.
    PucProjectStateView, "PucProjectState", "entity::enums::PucProjectState", {
        /// Being prepared by the Responsabile PUC, not yet in the catalogue.
        Bozza,
        /// Published in the catalogue with places free: beneficiaries can be proposed.
        Attivo,
        /// Published, every place taken by a proposed or active assignment; a place freed reopens it.
        Completo,
        /// Closed by the Responsabile PUC.
        Concluso,
        /// Cancelled (never while beneficiaries are active on it).
        Annullato,
    }
);
gql_enum!(
    /// Source of the beneficiary a PUC place is reserved for.
    PlaceSourceView, "PlaceSource", "entity::enums::PlaceSource", {
        /// Beneficiaries in charge of the Comune's social services.
        Comune,
        /// Beneficiaries in charge of the Centro per l'impiego (CPI).
        Cpi,
        /// Volunteers (the Volontari RdC of GePI): people taking part of their own accord.
        Volontario,
    }
);
gql_enum!(
    /// State of a PUC assignment, domain spec §2.8.
    PucAssignmentStateView, "PucAssignmentState", "entity::enums::PucAssignmentState", {
        /// To be assigned to a project; this API records assignments as `PROPOSTO` from the start.
        DaAssegnare,
        /// Proposed for the project by a case manager or the Responsabile PUC; it holds a place.
        Proposto,
        /// Started, with INAIL insurance activated: attendance is recorded day by day.
        Attivo,
        /// Completed: the planned participation was carried out.
        Completato,
        /// Interrupted, with its reason; a refusal or an abandonment can raise a segnalazione draft.
        Interrotto,
    }
);
gql_enum!(
    /// Why a PUC assignment was interrupted.
    InterruptionReasonView, "InterruptionReason", "entity::enums::InterruptionReason", {
        /// The beneficiary withdrew (rinuncia).
        Rinuncia,
        /// The benefit fell into decadenza.
        Decadenza,
        /// The benefit period ended.
        FineBeneficio,
        /// The beneficiary was hired (assunzione).
        Assunzione,
        /// The household moved to another Ambito, which accepted the transfer of its case.
        Trasferimento,
        /// Another reason.
        Altro,
    }
);
gql_enum!(
    /// Attendance of a day of PUC.
    AttendanceStatusView, "AttendanceStatus", "entity::enums::AttendanceStatus", {
        /// Present, with the minutes of activity.
        Presente,
        /// Absent for a justified reason (no minutes).
        AssenteGiustificato,
        /// Absent without a justified reason (no minutes).
        AssenteIngiustificato,
    }
);
gql_enum!(
    /// What a residency check (controllo anagrafico) verifies.
    ResidencyCheckKindView, "ResidencyCheckKind", "entity::enums::ResidencyCheckKind", {
        /// The residence requirement: the years of residence in Italy, from the registries of the Comuni.
        Residenza,
        /// The permit of stay (soggiorno) of a non-EU applicant.
        Soggiorno,
        /// The household declared for the ISEE against the registry household.
        ComposizioneNucleo,
        /// Continuity of residence of the members in the equivalence scale, checked ex post (ADI).
        ContinuitaResidenzaExpost,
    }
);
gql_enum!(
    /// State of a residency check, domain spec §2.6.
    ResidencyCheckStateView, "ResidencyCheckState", "entity::enums::ResidencyCheckState", {
        /// Waiting for the Coordinatore controlli anagrafici to assign it to an officer.
        DaAssegnare,
        /// Assigned to a Responsabile controlli anagrafici, who has not recorded periods yet.
        Assegnato,
        /// Residence periods are being recorded; the check can be forwarded or finalised.
        InLavorazione,
        /// Forwarded to the previous Comune of residence (or of birth), which has 20 days (30 back at the
        /// Comune of residence); its coordinator assigns it.
        Inoltrato,
        /// The requirement could not be determined: the person is convened within 30 days.
        InAttesaInteressato,
        /// Finalised: the requirement is met.
        EsitoPositivo,
        /// Finalised: the requirement is not met; its segnalazione awaits the coordinator's approval.
        EsitoNegativo,
        /// The negative outcome was sent to INPS (its segnalazione approved).
        InviatoInps,
    }
);
gql_enum!(
    /// Why a residency outcome contradicts the requirement computed from the recorded periods.
    ResidencyOverrideReasonView, "ResidencyOverrideReason", "entity::enums::ResidencyOverrideReason", {
        /// Documents the person produced prove residence the registries do not show.
        DocumentazioneInteressato,
        /// Residence in a Comune that cannot record periods on GePI (abroad, or not on the platform).
        PeriodiNonRegistrati,
        /// The registry was corrected after the periods were recorded.
        RettificaAnagrafica,
        /// The person was found not to live at the registered address (irreperibilità): the periods do
        /// not reflect actual residence.
        IrreperibilitaAccertata,
        /// Another reason, told in the note.
        Altro,
    }
);
gql_enum!(
    /// Outcome of a residency check.
    ResidencyOutcomeView, "ResidencyOutcome", "entity::enums::ResidencyOutcome", {
        /// The requirement is met.
        Positivo,
        /// The requirement is not met: a segnalazione for INPS is raised for approval.
        Negativo,
        /// Not determinable from the registries: the check waits for the person (`IN_ATTESA_INTERESSATO`)
        /// and is not closed with this outcome.
        NonDeterminabile,
    }
);
gql_enum!(
    /// Category of the condizione di svantaggio (DM 160/2023). Special-category data.
    DisadvantageCategoryView, "DisadvantageCategory", "entity::enums::DisadvantageCategory", {
        /// Mental disorders, in charge of socio-health services (former psychiatric inpatients included).
        DisturbiMentali,
        /// Certified physical, psychic or sensory disability, in charge of social or socio-health services
        /// and needing integrated care.
        Disabilita,
        /// Pathological addictions (alcohol and gambling included), in a non-residential rehabilitation
        /// programme.
        Dipendenze,
        /// Victims of trafficking, in charge of services.
        VittimeTratta,
        /// Victims of gender violence, in charge of services (anti-violence centres, shelters) or by court
        /// order.
        VittimeViolenzaGenere,
        /// Former detainees in their first year after release, or people in alternative measures or external
        /// work handled by UEPE.
        ExDetenuti,
        /// Specific social fragilities, in reception facilities or housing-emergency programmes.
        FragilitaAccoglienza,
        /// Homeless people in poverty (senza dimora).
        SenzaDimora,
        /// Young adults aged 18-21 living outside the family of origin under a court order.
        NeomaggiorenniFuoriFamiglia,
    }
);
gql_enum!(
    /// Stored state of a disadvantage validation; expiry by silence is computed from the deadline.
    DisadvantageStateView, "DisadvantageState", "entity::enums::DisadvantageState", {
        /// Received from INPS; the Comune has 60 days from receipt, after which silence counts as confirmation.
        Ricevuta,
        /// Taken into verification by the Responsabile condizione di svantaggio.
        InVerifica,
        /// Confirmed: the certification and the care programme were found.
        Confermata,
        /// Not confirmed, with the reasons in the notes.
        NonConfermata,
    }
);
gql_enum!(
    /// Who acted, in an audit event.
    ActorKindView, "ActorKind", "entity::enums::ActorKind", {
        /// An operator, acting through one of its profiles.
        Operator,
        /// An integration partner, authenticated with an API key.
        ApiClient,
        /// The service itself: command-line tasks and logouts requested by a SPID identity provider.
        System,
        /// A caller not identified, such as a refused SPID login.
        Anonymous,
    }
);
gql_enum!(
    /// What was done, in an audit event.
    AuditActionView, "AuditAction", "entity::enums::AuditAction", {
        /// A read of protected content: a row whose sensitive or special fields (or a case whose detail) a
        /// response carried.
        Read,
        /// A record created.
        Create,
        /// A record changed, with the before and after of the changed fields.
        Update,
        /// An assignment or reassignment (a case to a case manager, a residency check to an officer).
        Assign,
        /// A change of state.
        Transition,
        /// An export or download of data.
        Export,
        /// A login: a session opened.
        Login,
        /// A refused SPID login.
        LoginFailed,
        /// A logout: by the operator, or requested by the SPID identity provider.
        Logout,
        /// A refused SPID logout request whose signature was verified.
        LogoutRefused,
        /// The session moved to another profile of the operator.
        SwitchProfile,
        /// Entries of the audit trail past their retention were deleted; their leaves stay in the
        /// trail's Merkle tree, and this entry names them.
        Purge,
        /// Personal data past their retention were anonymised (the entry names the fields, never
        /// their values).
        Anonymise,
    }
);

gql_enum!(
    /// A role of a profile or API client (the policy ids of `policies/`).
    RoleView, "Role", "entity::enums::Role", {
        /// Ministry administrator: designates the Ambito administrators; granted only from the command line.
        MinistryAdmin,
        /// Amministratore d'Ambito: records and accredits the operators of the Ambito and uploads the
        /// conventions; holds no other role there.
        AmbitoAdmin,
        /// Coordinatore per il Patto: assigns the cases of the Ambito and approves their segnalazioni; sees
        /// the cases as a list, never their content.
        PaisCoordinator,
        /// Case Manager: works the cases assigned to it (meetings, analyses, Patto, segnalazioni).
        CaseManager,
        /// Coordinatore controlli anagrafici: assigns the residency checks of its Comuni and approves the
        /// segnalazioni of negative ones.
        RegistryCheckCoordinator,
        /// Responsabile controlli anagrafici: records residence periods, forwards and finalises the checks
        /// of its Comune.
        RegistryCheckOfficer,
        /// Responsabile PUC: manages the PUC projects of its Comuni, their assignments and attendance.
        PucManager,
        /// Referente per l'attivazione dei sostegni: activates supports on the cases of the Ambito not yet
        /// assigned to a case manager.
        SupportActivationOfficer,
        /// Responsabile della registrazione degli incontri: office slots, meetings and spontaneous
        /// presentations of its Comuni, never the analysis or the Patto.
        MeetingRegistrar,
        /// Responsabile condizione di svantaggio: confirms or not the disadvantage conditions its Comuni
        /// certified; held by default by the first Coordinatore per il Patto, the administrator can move it.
        DisadvantageValidator,
        /// Analyst of an Ambito: no case, household or member data, and list pages give it no rows.
        Analyst,
        /// INPS, as an API client: reads the disadvantage validation requests and their state, without the
        /// category.
        InpsFeed,
        /// A Centro per l'impiego, as an API client: reads the PUC catalogue.
        CpiPartner,
    }
);
gql_enum!(
    /// State of a case transfer between Ambiti.
    TransferStateView, "TransferState", "entity::enums::TransferState", {
        /// Requested by the sending coordinator: the receiving Ambito decides on the minimal card.
        Richiesto,
        /// Accepted: the case, its household, meetings and segnalazioni moved; the case roles of the sending
        /// Ambito no longer read it (what belongs to a Comune stays: see `policies/travel.csv`).
        Accettato,
        /// Rejected by the receiving Ambito, with a coded reason: the case stays where it was.
        Rifiutato,
        /// Withdrawn by the sending coordinator before a decision.
        Ritirato,
    }
);
gql_enum!(
    /// Why a case transfer is requested.
    TransferReasonView, "TransferReason", "entity::enums::TransferReason", {
        /// The household told the social services (or the registry recorded) its new residence.
        CambioResidenza,
        /// An INPS feed reported the household's new Comune of residence.
        SegnalazioneInps,
        /// A residency check found the household resident elsewhere.
        ControlloAnagrafico,
    }
);
gql_enum!(
    /// Why the receiving Ambito rejects a case transfer.
    TransferRejectionReasonView, "TransferRejectionReason", "entity::enums::TransferRejectionReason", {
        /// The new residence is not in the receiving Comune's registry.
        ResidenzaNonConfermata,
        /// The Comune named is not the one the household moved to, or not of this Ambito.
        ComuneNonCompetente,
        /// The household already has a case in the receiving Ambito.
        GiaInCarico,
        /// Another reason, told in the note.
        Altro,
    }
);
gql_enum!(
    /// Where a case is referred.
    ReferralTargetView, "ReferralTarget", "entity::enums::ReferralTarget", {
        /// A Centro per l'impiego: members activable to work sign a Patto di servizio personalizzato there;
        /// the CPI collects the referral from its change feed.
        Cpi,
        /// A specialist service (health, mental health, addiction) whose project replaces or integrates the
        /// pact; the case manager records its steps.
        ServiziSpecialistici,
    }
);
gql_enum!(
    /// State of a referral.
    ReferralStateView, "ReferralState", "entity::enums::ReferralState", {
        /// Sent, awaiting the service.
        InAttesa,
        /// The service took the person in charge.
        PresoInCarico,
        /// Closed (the service's path ended, or the referral was withdrawn).
        Chiuso,
    }
);
