//! GraphQL types of the territory.

use async_graphql::{Object, ID};
use entity::{ambito, comune};

use crate::ids;

/// Ambito territoriale sociale (L. 328/2000 art. 8): the Comuni that manage the Patti together.
pub struct AmbitoView(pub ambito::Model);

#[Object(name = "Ambito")]
impl AmbitoView {
    /// Global id of the Ambito.
    async fn id(&self) -> ID {
        ID(ids::encode("Ambito", self.0.id))
    }
    /// National code of the Ambito.
    async fn code(&self) -> &str {
        &self.0.code
    }
    /// Name of the Ambito.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Region (Regione) of the Ambito.
    async fn region(&self) -> &str {
        &self.0.region
    }
}

/// A Comune, identified by its ISTAT code.
pub struct ComuneView(pub comune::Model);

#[Object(name = "Comune")]
impl ComuneView {
    /// ISTAT code (six digits).
    async fn istat_code(&self) -> &str {
        &self.0.istat_code
    }
    /// Cadastral (Belfiore) code, as used in codici fiscali.
    async fn belfiore_code(&self) -> &str {
        &self.0.belfiore_code
    }
    /// Name of the Comune.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Province abbreviation (sigla).
    async fn province(&self) -> &str {
        &self.0.province
    }
}
