//! Relay connections: `edges { cursor node }`, `nodes`, `pageInfo` and a lazy
//! `totalCount` that runs only when selected, under the same row condition as the
//! page.

use std::borrow::Cow;

use async_graphql::{connection::PageInfo, Object, OutputType, TypeName};

use crate::{
    authz::gateway::{CountQuery, Page},
    error::{GqlResult, ResultExt},
};

pub struct Connection<N> {
    edges: Vec<Edge<N>>,
    has_next_page: bool,
    has_previous_page: bool,
    count: CountQuery,
}

impl<N> Connection<N> {
    pub fn from_page<M>(page: Page<M>, wrap: impl Fn(M) -> N) -> Self {
        Connection {
            edges: page.rows.into_iter().map(|(cursor, m)| Edge { cursor, node: wrap(m) }).collect(),
            has_next_page: page.has_next_page,
            has_previous_page: page.has_previous_page,
            count: page.count,
        }
    }
}

impl<N: OutputType> TypeName for Connection<N> {
    fn type_name() -> Cow<'static, str> {
        format!("{}Connection", N::type_name()).into()
    }
}

/// A page of rows (a Relay connection): the rows with their cursors, whether
/// there are more, and how many there are in all.
#[Object(name_type)]
impl<N: OutputType + Clone> Connection<N> {
    /// The page: one edge per row, with its cursor.
    async fn edges(&self) -> &[Edge<N>] {
        &self.edges
    }
    /// The rows of the page, without cursors.
    async fn nodes(&self) -> Vec<N> {
        self.edges.iter().map(|e| e.node.clone()).collect()
    }
    /// Paging information: pass `endCursor` as `after` for the next page.
    async fn page_info(&self) -> PageInfo {
        PageInfo {
            has_previous_page: self.has_previous_page,
            has_next_page: self.has_next_page,
            start_cursor: self.edges.first().map(|e| e.cursor.clone()),
            end_cursor: self.edges.last().map(|e| e.cursor.clone()),
        }
    }
    /// Number of rows the viewer may see with these filters, all pages together.
    async fn total_count(&self) -> GqlResult<u64> {
        self.count.run().await.gql()
    }
}

pub struct Edge<N> {
    cursor: String,
    node: N,
}

impl<N: OutputType> TypeName for Edge<N> {
    fn type_name() -> Cow<'static, str> {
        format!("{}Edge", N::type_name()).into()
    }
}

/// One row of a page, with the cursor to continue after it.
#[Object(name_type)]
impl<N: OutputType + Clone> Edge<N> {
    /// Opaque cursor of this row.
    async fn cursor(&self) -> &str {
        &self.cursor
    }
    /// The row.
    async fn node(&self) -> &N {
        &self.node
    }
}
