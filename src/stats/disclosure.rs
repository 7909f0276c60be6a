//! Statistical disclosure control of the tables a protected role is given.
//!
//! **The noisy base.** Every measure is first counted at its finest grain (the
//! cross of all its dimensions: Comune, month, and each dimension of its own,
//! but for the operational ones, such as a case's deadlines, which move every
//! day and are counted exactly only).
//! Each finest cell gets a small noise drawn from its *cell key*, the sum of the
//! secret record keys of its units modulo 2^20 (the cell-key method of the
//! European statistical system): the same units always give the same noise, in
//! every table, and a cell that gains or loses one unit gets a fresh draw. A
//! published cell is the sum of the perturbed finest cells under it, computed in
//! the database; the true counts of a protected table never leave the database.
//!
//! Why that resists differencing: every number a protected role can be shown is
//! a sum of the same perturbed finest cells. Subtracting tables, solving their
//! linear system or asking the same table again can at best give back perturbed
//! finest cells, never a true count: a perturbed finest cell `p` may come from
//! any count within `MAX_NOISE` of it (and `0` from 1 or 2), so a cell of `m`
//! finest cells always has at least two counts consistent with everything
//! published. Differential privacy would need a budget per analyst and would
//! stop a dashboard when it runs out; the cell key gives the same answer to the
//! same question forever, which is what a dashboard wants.
//!
//! What it does not hide, and is left to the next steps: a finest cell with no
//! unit is not in the base, so it is exactly zero, and a perturbed count of one
//! or more tells that a finest cell has units (existence, not a count); and
//! the same units split differently over finest cells (a case changing state)
//! give a total fresh noise, so snapshots taken over time are not one noisy
//! base. Tables filter a protected measure on one value per dimension, which
//! keeps a union and its complement from singling out one part of a total.
//!
//! **Primary suppression.** A cell whose perturbed count is below *k* (by the
//! most protected class among the measure, the dimensions and the filters) is
//! not shown. The table lists every combination of the dimensions' values in the
//! scope, empty ones too, so that a missing cell never tells a zero apart.
//!
//! **Secondary suppression.** Along each line of the table (the cells that add
//! up to a total another table shows: the Comuni of an Ambito, the Ambiti of a
//! Regione, the months of a quarter, the quarters of a year, every value of a
//! dimension of the measure), a line with a suppressed cell keeps at least two,
//! whose perturbed counts add up to at least *k*, suppressing the smallest
//! cells first (ties in the table's order), until no line changes. The choice
//! depends only on the perturbed counts, so the same table is suppressed alike
//! every time it is asked.

/// Size of the record-key space: keys are in `[0, KEY_SPACE)`.
pub const KEY_SPACE: i64 = 1 << 20;

/// The largest noise added to a finest cell.
pub const MAX_NOISE: i64 = 2;

/// The noise of a cell key: 0 half of the time, ±1 a fifth each, ±2 a
/// twentieth each.
pub fn noise(cell_key: i64) -> i64 {
    let u = cell_key.rem_euclid(KEY_SPACE);
    match u {
        u if u < 524_288 => 0,
        u if u < 734_003 => 1,
        u if u < 943_718 => -1,
        u if u < 996_147 => 2,
        _ => -2,
    }
}

/// The perturbed count of a finest cell of `n` units and key `cell_key`.
pub fn perturb(n: i64, cell_key: i64) -> i64 {
    (n + noise(cell_key)).max(0)
}

/// [`perturb`] in SQL, over the columns `n` and `ck` of the base.
pub fn perturb_sql(n: &str, ck: &str) -> String {
    format!(
        "CASE WHEN {n} + (CASE WHEN {ck} < 524288 THEN 0 WHEN {ck} < 734003 THEN 1 WHEN {ck} < 943718 THEN -1 \
         WHEN {ck} < 996147 THEN 2 ELSE -2 END) < 0 THEN 0 ELSE {n} + (CASE WHEN {ck} < 524288 THEN 0 \
         WHEN {ck} < 734003 THEN 1 WHEN {ck} < 943718 THEN -1 WHEN {ck} < 996147 THEN 2 ELSE -2 END) END"
    )
}

/// What was done to a cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flag {
    /// A true count (operational roles, within what they read anyway).
    Exact,
    /// Shown, perturbed by the cell-key method.
    Perturbed,
    /// Not shown: fewer than *k*.
    SuppressedPrimary,
    /// Not shown: it would let a suppressed cell be recomputed from a total.
    SuppressedSecondary,
}

impl Flag {
    /// The flag as the API and the exports name it.
    pub fn code(self) -> &'static str {
        match self {
            Flag::Exact => "EXACT",
            Flag::Perturbed => "PERTURBED",
            Flag::SuppressedPrimary => "SUPPRESSED_PRIMARY",
            Flag::SuppressedSecondary => "SUPPRESSED_SECONDARY",
        }
    }

    pub fn suppressed(self) -> bool {
        matches!(self, Flag::SuppressedPrimary | Flag::SuppressedSecondary)
    }
}

/// Suppresses the cells of a protected table in place: `values[i]` is the
/// perturbed count of cell `i`; `lines` lists, for each line of the table, the
/// indexes of its cells in the table's order. Returns each cell's flag.
pub fn suppress(values: &[i64], lines: &[Vec<usize>], k: i64, secondary: bool) -> Vec<Flag> {
    let mut flags: Vec<Flag> =
        values.iter().map(|v| if *v < k { Flag::SuppressedPrimary } else { Flag::Perturbed }).collect();
    if !secondary {
        return flags;
    }
    loop {
        let mut changed = false;
        for line in lines {
            if line.len() < 2 {
                continue;
            }
            loop {
                let suppressed: Vec<usize> = line.iter().copied().filter(|i| flags[*i].suppressed()).collect();
                if suppressed.is_empty() {
                    break;
                }
                let sum: i64 = suppressed.iter().map(|i| values[*i]).sum();
                if suppressed.len() >= 2 && sum >= k {
                    break;
                }
                // The smallest shown cell of the line, the first in the table's order on a tie.
                let Some(next) =
                    line.iter().copied().filter(|i| !flags[*i].suppressed()).min_by_key(|i| (values[*i], *i))
                else {
                    break;
                };
                flags[next] = Flag::SuppressedSecondary;
                changed = true;
            }
        }
        if !changed {
            return flags;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn noise_is_bounded_and_drawn_in_the_stated_proportions() {
        let mut counts = BTreeMap::new();
        let step = 97;
        let mut n = 0;
        for ck in (0..KEY_SPACE).step_by(step) {
            *counts.entry(noise(ck)).or_insert(0) += 1;
            n += 1;
        }
        let share = |d: i64| f64::from(counts[&d]) / f64::from(n);
        assert!((share(0) - 0.5).abs() < 0.01);
        assert!((share(1) - 0.2).abs() < 0.01 && (share(-1) - 0.2).abs() < 0.01);
        assert!((share(2) - 0.05).abs() < 0.01 && (share(-2) - 0.05).abs() < 0.01);
        assert!(counts.keys().all(|d| d.abs() <= MAX_NOISE));
    }

    #[test]
    fn every_perturbed_count_has_at_least_two_true_counts_behind_it() {
        // What makes differencing useless: whatever an attacker recomputes of a
        // finest cell is a perturbed count, and each has two or more preimages.
        for p in 0..50i64 {
            let preimages: Vec<i64> =
                (1..60).filter(|n| (-MAX_NOISE..=MAX_NOISE).any(|d| (n + d).max(0) == p)).collect();
            assert!(preimages.len() >= 2, "perturbed {p} has preimages {preimages:?}");
        }
    }

    #[test]
    fn a_line_never_keeps_a_single_suppressed_cell() {
        // One line of four cells, one below k: the smallest other is suppressed too.
        let values = [1, 9, 4, 20];
        let flags = suppress(&values, &[vec![0, 1, 2, 3]], 3, true);
        assert_eq!(flags, vec![Flag::SuppressedPrimary, Flag::Perturbed, Flag::SuppressedSecondary, Flag::Perturbed]);
        // Two small cells that add up below k take a third.
        let values = [1, 1, 5, 6];
        let flags = suppress(&values, &[vec![0, 1, 2, 3]], 3, true);
        assert_eq!(flags.iter().filter(|f| f.suppressed()).count(), 3);
        // Lines meet: a cell suppressed for a row is counted in its column.
        let values = [1, 10, 10, 10];
        let flags = suppress(&values, &[vec![0, 1], vec![2, 3], vec![0, 2], vec![1, 3]], 3, true);
        assert!(flags.iter().all(|f| f.suppressed()), "{flags:?}");
    }
}
