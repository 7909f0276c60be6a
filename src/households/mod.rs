//! Households (nuclei familiari), their members and their applications (domande).
//! INPS owns applications and household composition; GePI receives them.

pub mod model;
