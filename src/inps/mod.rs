//! The exchange with INPS. In: the feed INPS transmits to the Ambiti
//! (applications, households and their members, changes of state), read by
//! `gepi import inps` and by the bulk endpoint of the `inps_feed` key, and the
//! only writer of households, members and applications. Its format is
//! `feeds/inps/v1/` (JSON Lines, one JSON Schema per record kind).

pub mod feed;
pub mod service;
