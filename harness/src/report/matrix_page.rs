//! docs/consistency-matrix.html: the matrix's cells coloured, each break linking to its case's
//! report, each hold with its evidence, and plots drawn as inline SVG.

/// The page's template.
pub const TEMPLATE: &str = include_str!("matrix.html");
