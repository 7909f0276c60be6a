//! The checked-in SDL is what the code serves.

#[test]
fn schema_graphql_is_in_step_with_the_code() {
    let checked_in = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
        .expect("schema.graphql at the repository root");
    let served = gepi::schema::sdl();
    assert!(
        checked_in == served,
        "schema.graphql differs from the schema the code serves; regenerate it with\n\n    \
         cargo run -- schema > schema.graphql\n\nand review the diff"
    );
}
