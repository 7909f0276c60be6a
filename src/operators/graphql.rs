//! GraphQL types of operators and profiles.

use async_graphql::{Context, Enum, Object, ID};
use entity::{operator, profile};
use sea_orm::DatabaseConnection;

use crate::{
    error::{GqlResult, ResultExt},
    ids,
    territory::{graphql::{AmbitoView, ComuneView}, service as territory},
};

/// A role of a profile or API client.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "Role", remote = "entity::enums::Role")]
pub enum RoleView {
    /// Ministero: accredits Ambiti and their administrators.
    MinistryAdmin,
    /// Amministratore dell'Ambito territoriale.
    AmbitoAdmin,
    /// Coordinatore per il Patto per l'Inclusione Sociale.
    PaisCoordinator,
    /// Case Manager.
    CaseManager,
    /// Coordinatore per i controlli anagrafici.
    RegistryCheckCoordinator,
    /// Responsabile per i controlli anagrafici.
    RegistryCheckOfficer,
    /// Responsabile PUC.
    PucManager,
    /// Referente per l'attivazione dei sostegni.
    SupportActivationOfficer,
    /// Responsabile della registrazione degli incontri.
    MeetingRegistrar,
    /// Responsabile condizione di svantaggio.
    DisadvantageValidator,
    /// Analyst: aggregates only.
    Analyst,
    /// INPS feed (integration partner).
    InpsFeed,
    /// Centro per l'impiego partner (integration partner).
    CpiPartner,
}

/// An operator: a person accredited on GePI, identified by the codice fiscale SPID asserts.
pub struct OperatorView(pub operator::Model);

#[Object(name = "Operator")]
impl OperatorView {
    /// Global id of the operator.
    async fn id(&self) -> ID {
        ID(ids::encode("Operator", self.0.id))
    }
    /// Codice fiscale.
    async fn fiscal_code(&self) -> &str {
        &self.0.fiscal_code
    }
    /// Nome.
    async fn first_name(&self) -> &str {
        &self.0.first_name
    }
    /// Cognome.
    async fn last_name(&self) -> &str {
        &self.0.last_name
    }
    /// Name and surname, as shown in the user interface.
    async fn display_name(&self) -> String {
        format!("{} {}", self.0.first_name, self.0.last_name)
    }
}

/// A profile: one role assignment of an operator (role, Ambito, Comuni covered, validity).
pub struct ProfileView(pub profile::Model);

#[Object(name = "Profile")]
impl ProfileView {
    /// Global id of the profile.
    async fn id(&self) -> ID {
        ID(ids::encode("Profile", self.0.id))
    }
    /// Role of the profile.
    async fn role(&self) -> RoleView {
        self.0.role.into()
    }
    /// Ambito territoriale of the profile; null for national roles.
    async fn ambito(&self, ctx: &Context<'_>) -> GqlResult<Option<AmbitoView>> {
        let Some(id) = self.0.ambito_id else { return Ok(None) };
        let db = ctx.data_unchecked::<DatabaseConnection>();
        Ok(territory::ambito(db, id).await.gql()?.map(AmbitoView))
    }
    /// Comuni the profile covers, by name.
    async fn comuni(&self, ctx: &Context<'_>) -> GqlResult<Vec<ComuneView>> {
        let db = ctx.data_unchecked::<DatabaseConnection>();
        Ok(territory::comuni_of_profile(db, self.0.id).await.gql()?.into_iter().map(ComuneView).collect())
    }
    /// First day the profile is valid.
    async fn valid_from(&self) -> chrono::NaiveDate {
        self.0.valid_from
    }
    /// Last day the profile is valid; null when open-ended.
    async fn valid_to(&self) -> Option<chrono::NaiveDate> {
        self.0.valid_to
    }
    /// Fund paying for the operator's contract (e.g. Fondo Povertà, PON Inclusione).
    async fn funding_source(&self) -> Option<&str> {
        self.0.funding_source.as_deref()
    }
}
