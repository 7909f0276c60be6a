//! A small builder that keeps a table's columns, foreign keys and indexes together,
//! so that each table of the schema reads as one block.

use sea_orm_migration::prelude::*;

pub struct TableDef {
    pub name: &'static str,
    pub create: TableCreateStatement,
    pub indexes: Vec<IndexCreateStatement>,
}

impl TableDef {
    pub fn new(name: &'static str) -> Self {
        Self { name, create: Table::create().table(name).to_owned(), indexes: Vec::new() }
    }

    pub fn cols(mut self, cols: impl IntoIterator<Item = ColumnDef>) -> Self {
        for c in cols {
            self.create.col(c);
        }
        self
    }

    /// Composite primary key.
    pub fn pk(mut self, cols: &[&'static str]) -> Self {
        let mut ix = Index::create();
        for c in cols {
            ix.col(*c);
        }
        self.create.primary_key(&mut ix);
        self
    }

    /// Foreign key `col -> table(ref_col)`; deleting the referenced row is refused.
    pub fn fk(mut self, col: &'static str, table: &'static str, ref_col: &'static str) -> Self {
        let name = format!("fk_{}_{}", self.name, col);
        self.create.foreign_key(
            ForeignKey::create()
                .name(name)
                .from(self.name, col)
                .to(table, ref_col)
                .on_delete(ForeignKeyAction::Restrict)
                .on_update(ForeignKeyAction::Restrict),
        );
        self
    }

    /// Foreign key whose rows go with their parent (children of an aggregate).
    pub fn fk_cascade(mut self, col: &'static str, table: &'static str, ref_col: &'static str) -> Self {
        let name = format!("fk_{}_{}", self.name, col);
        self.create.foreign_key(
            ForeignKey::create()
                .name(name)
                .from(self.name, col)
                .to(table, ref_col)
                .on_delete(ForeignKeyAction::Cascade)
                .on_update(ForeignKeyAction::Restrict),
        );
        self
    }

    fn index(mut self, cols: &[&'static str], unique: bool) -> Self {
        let name = format!("{}_{}_{}", if unique { "ux" } else { "ix" }, self.name, cols.join("_"));
        let mut ix = Index::create().name(name).table(self.name).to_owned();
        for c in cols {
            ix.col(*c);
        }
        if unique {
            ix.unique();
        }
        self.indexes.push(ix);
        self
    }

    /// Index led by the given columns (scope columns first, then sort keys).
    pub fn idx(self, cols: &[&'static str]) -> Self {
        self.index(cols, false)
    }

    pub fn uniq(self, cols: &[&'static str]) -> Self {
        self.index(cols, true)
    }

    pub async fn create(self, manager: &SchemaManager<'_>) -> Result<(), DbErr> {
        manager.create_table(self.create).await?;
        for ix in self.indexes {
            manager.create_index(ix).await?;
        }
        Ok(())
    }
}
