//! Transparency-log primitives, with nothing of GePI in them: the Merkle tree
//! of RFC 9162 with its proofs (`tree`) and checkpoints signed in the C2SP
//! signed-note format (`note`). The audit trail (`audit::log`) is built on
//! them; the configuration checks the signing key with them.

pub mod note;
pub mod tree;
