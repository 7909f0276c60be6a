//! The Merkle tree of the audit trail, in the shape of RFC 9162 §2.1
//! (Certificate Transparency v2, unchanged from RFC 6962): SHA-256, a leaf
//! hashed as `H(0x00 || data)`, a node as `H(0x01 || left || right)`, a tree of
//! `n` leaves split at the largest power of two below `n`, and the empty tree's
//! hash `H("")`. Inclusion and consistency proofs are built from the leaves'
//! hashes and checked with the RFC's verification algorithms (§2.1.3.2,
//! §2.1.4.2), so a proof made here is checked by any CT verifier and the other
//! way round. The tests hold the RFC 6962 reference vectors.

use sha2::{Digest, Sha256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// `H(0x00 || data)`: the hash of a leaf.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// `H(0x01 || left || right)`: the hash of an inner node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The hash of the tree with no leaves: `H("")`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The right edge of a tree: the roots of its perfect subtrees from the
/// largest (leftmost) to the smallest, one per bit set in its size. Enough to
/// append a leaf and to compute the root, in `O(log n)` space; the sequencer
/// keeps it between batches, the verifier rebuilds it leaf by leaf.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    nodes: Vec<Hash>,
}

impl Frontier {
    /// The frontier of a tree of `size` leaves from its stored nodes; `None`
    /// when their number is not the number of bits set in `size`.
    pub fn from_parts(size: u64, nodes: Vec<Hash>) -> Option<Self> {
        (nodes.len() == size.count_ones() as usize).then_some(Frontier { size, nodes })
    }

    /// The frontier stored as its nodes' bytes, concatenated.
    pub fn from_bytes(size: u64, bytes: &[u8]) -> Option<Self> {
        if !bytes.len().is_multiple_of(32) {
            return None;
        }
        let nodes = bytes.chunks_exact(32).map(|c| c.try_into().expect("32 bytes")).collect();
        Self::from_parts(size, nodes)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        self.nodes.concat()
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf (its hash).
    pub fn push(&mut self, leaf: Hash) {
        self.push_with(leaf, |_, _, _| {});
    }

    /// Appends a leaf, telling `completed` each perfect subtree it completes
    /// (height ≥ 1, its index at that height, its root).
    pub fn push_with(&mut self, leaf: Hash, mut completed: impl FnMut(u32, u64, &Hash)) {
        let mut h = leaf;
        let mut s = self.size;
        let mut height = 0;
        while s & 1 == 1 {
            let left = self.nodes.pop().expect("one node per bit set");
            h = node_hash(&left, &h);
            s >>= 1;
            height += 1;
            completed(height, ((self.size + 1) >> height) - 1, &h);
        }
        self.nodes.push(h);
        self.size += 1;
    }

    /// The tree head: the root hash of the leaves pushed so far.
    pub fn root(&self) -> Hash {
        fold(&self.nodes)
    }
}

/// The root of the tree over `leaves` (their hashes), in `O(n)`.
pub fn root(leaves: &[Hash]) -> Hash {
    let mut f = Frontier::default();
    for l in leaves {
        f.push(*l);
    }
    f.root()
}

/// The largest power of two smaller than `n` (`n >= 2`).
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (u64::BITS - 1 - (n - 1).leading_zeros())
}

/// The leaves `[a, b)` whose root is one hash of a proof.
pub type Range = (u64, u64);

/// The ranges of leaves whose roots are, in order, the inclusion proof (RFC
/// 9162 §2.1.3.1, `PATH(m, D[n])`) of leaf `index` in a tree of `size`
/// leaves; `None` when `index` is not a leaf of it. Each range is either a
/// perfect subtree or a right edge `[a, n)` with `a` a multiple of a power of
/// two at least `n - a`, so its root is the fold of the perfect subtrees
/// that make it up, largest first (what a store of subtree roots can answer).
pub fn inclusion_ranges(index: u64, size: u64) -> Option<Vec<Range>> {
    if index >= size {
        return None;
    }
    fn path(m: u64, lo: u64, hi: u64, out: &mut Vec<Range>) {
        if hi - lo <= 1 {
            return;
        }
        let k = split(hi - lo);
        if m < k {
            path(m, lo, lo + k, out);
            out.push((lo + k, hi));
        } else {
            path(m - k, lo + k, hi, out);
            out.push((lo, lo + k));
        }
    }
    let mut out = Vec::new();
    path(index, 0, size, &mut out);
    Some(out)
}

/// The ranges of leaves whose roots are, in order, the consistency proof
/// (RFC 9162 §2.1.4.1, `PROOF(m, D[n])`) between the trees of `m` and `n`
/// leaves; `None` unless `m <= n`, empty when `m` is 0 or `n`.
pub fn consistency_ranges(m: u64, n: u64) -> Option<Vec<Range>> {
    if m > n {
        return None;
    }
    fn subproof(m: u64, lo: u64, hi: u64, complete: bool, out: &mut Vec<Range>) {
        if m == hi - lo {
            if !complete {
                out.push((lo, hi));
            }
            return;
        }
        let k = split(hi - lo);
        if m <= k {
            subproof(m, lo, lo + k, complete, out);
            out.push((lo + k, hi));
        } else {
            subproof(m - k, lo + k, hi, false, out);
            out.push((lo, lo + k));
        }
    }
    let mut out = Vec::new();
    if m > 0 && m < n {
        subproof(m, 0, n, true, &mut out);
    }
    Some(out)
}

/// The perfect subtrees that make up `range` (see [`inclusion_ranges`]), as
/// (height, index at that height), largest first.
pub fn subtrees((a, b): Range) -> Vec<(u32, u64)> {
    let mut out = Vec::new();
    let mut x = a;
    while x < b {
        let mut h = if x == 0 { 63 } else { x.trailing_zeros() };
        while (1u64 << h) > b - x {
            h -= 1;
        }
        out.push((h, x >> h));
        x += 1 << h;
    }
    out
}

/// The root of leaves `range` from the roots of its [`subtrees`].
pub fn fold(roots: &[Hash]) -> Hash {
    let mut it = roots.iter().rev();
    match it.next() {
        None => empty_root(),
        Some(last) => it.fold(*last, |acc, left| node_hash(left, &acc)),
    }
}

/// The inclusion proof of leaf `index` in the tree over `leaves`.
pub fn inclusion_proof(index: usize, leaves: &[Hash]) -> Option<Vec<Hash>> {
    let ranges = inclusion_ranges(index as u64, leaves.len() as u64)?;
    Some(ranges.into_iter().map(|(a, b)| root(&leaves[a as usize..b as usize])).collect())
}

/// The consistency proof between the tree of the first `m` leaves and the
/// tree over all `leaves`.
pub fn consistency_proof(m: usize, leaves: &[Hash]) -> Option<Vec<Hash>> {
    let ranges = consistency_ranges(m as u64, leaves.len() as u64)?;
    Some(ranges.into_iter().map(|(a, b)| root(&leaves[a as usize..b as usize])).collect())
}

/// RFC 9162 §2.1.3.2: does `proof` show `leaf` at `index` in the tree of
/// `size` leaves whose root is `root`?
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    snode == 0 && r == *root
}

/// RFC 9162 §2.1.4.2: does `proof` show that the tree of `first` leaves with
/// root `first_root` is a prefix of the tree of `second` leaves with root
/// `second_root`? A tree is consistent with itself (empty proof, same root)
/// and every tree extends the empty one.
pub fn verify_consistency(first: u64, second: u64, first_root: &Hash, second_root: &Hash, proof: &[Hash]) -> bool {
    if first > second {
        return false;
    }
    if first == second {
        return proof.is_empty() && first_root == second_root;
    }
    if first == 0 {
        return proof.is_empty() && *first_root == empty_root();
    }
    if proof.is_empty() {
        return false;
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if first.is_power_of_two() {
        path.push(*first_root);
    }
    path.extend_from_slice(proof);
    let (mut fnode, mut snode) = (first - 1, second - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    fr == *first_root && sr == *second_root && snode == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The leaves of RFC 6962's reference tests (certificate-transparency's
    /// `merkle_tree_test`), as hex.
    const LEAVES: [&str; 8] =
        ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"];

    /// Their roots for 1..=8 leaves.
    const ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    fn h(s: &str) -> Hash {
        hex::decode(s).unwrap().try_into().unwrap()
    }

    fn leaves() -> Vec<Hash> {
        LEAVES.iter().map(|l| leaf_hash(&hex::decode(l).unwrap())).collect()
    }

    #[test]
    fn roots_match_the_reference_vectors() {
        assert_eq!(hex::encode(empty_root()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        let l = leaves();
        for (n, expected) in ROOTS.iter().enumerate() {
            assert_eq!(hex::encode(root(&l[..=n])), *expected, "root of {} leaves", n + 1);
        }
    }

    #[test]
    fn proofs_match_the_reference_vectors() {
        let l = leaves();
        // Inclusion: (leaf, tree size, path).
        let inclusion: [(usize, usize, &[&str]); 4] = [
            (
                0,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                5,
                8,
                &[
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (2, 3, &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
            (
                1,
                5,
                &[
                    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (index, size, expected) in inclusion {
            let proof = inclusion_proof(index, &l[..size]).unwrap();
            assert_eq!(proof.iter().map(hex::encode).collect::<Vec<_>>(), expected, "path({index}, {size})");
            assert!(verify_inclusion(index as u64, size as u64, &l[index], &proof, &h(ROOTS[size - 1])));
        }
        // Consistency: (first, second, proof).
        let consistency: [(usize, usize, &[&str]); 3] = [
            (
                1,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                6,
                8,
                &[
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                5,
                &[
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (m, n, expected) in consistency {
            let proof = consistency_proof(m, &l[..n]).unwrap();
            assert_eq!(proof.iter().map(hex::encode).collect::<Vec<_>>(), expected, "proof({m}, {n})");
            assert!(verify_consistency(m as u64, n as u64, &h(ROOTS[m - 1]), &h(ROOTS[n - 1]), &proof));
        }
    }

    /// Every proof between every pair of sizes up to 70 verifies, and any
    /// change to it (a hash, a size, the root, a hash dropped) is refused.
    #[test]
    fn every_proof_verifies_and_no_altered_one_does() {
        let l: Vec<Hash> = (0u32..70).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let roots: Vec<Hash> = (0..=l.len()).map(|n| root(&l[..n])).collect();
        let mut f = Frontier::default();
        for n in 1..=l.len() {
            f.push(l[n - 1]);
            assert_eq!(f.root(), roots[n], "frontier root at {n}");
            assert_eq!(Frontier::from_bytes(n as u64, &f.to_bytes()).as_ref(), Some(&f));
            for i in 0..n {
                let p = inclusion_proof(i, &l[..n]).unwrap();
                assert!(verify_inclusion(i as u64, n as u64, &l[i], &p, &roots[n]), "inclusion {i} in {n}");
                assert!(!verify_inclusion(i as u64, n as u64, &leaf_hash(b"other"), &p, &roots[n]));
                assert!(!verify_inclusion(i as u64, n as u64, &l[i], &p, &roots[n - 1]));
                if !p.is_empty() {
                    let mut bad = p.clone();
                    bad[0][0] ^= 1;
                    assert!(!verify_inclusion(i as u64, n as u64, &l[i], &bad, &roots[n]));
                    assert!(!verify_inclusion(i as u64, n as u64, &l[i], &p[1..], &roots[n]));
                }
            }
            for m in 0..=n {
                let p = consistency_proof(m, &l[..n]).unwrap();
                assert!(verify_consistency(m as u64, n as u64, &roots[m], &roots[n], &p), "consistency {m} → {n}");
                if m > 0 && m < n {
                    let mut bad = p.clone();
                    let last = bad.len() - 1;
                    bad[last][31] ^= 1;
                    assert!(!verify_consistency(m as u64, n as u64, &roots[m], &roots[n], &bad));
                    assert!(!verify_consistency(m as u64, n as u64, &roots[m - 1], &roots[n], &p));
                    assert!(!verify_consistency(m as u64, n as u64, &roots[m], &roots[n - 1], &p));
                    assert!(!verify_consistency(m as u64, n as u64, &roots[m], &roots[n], &p[..last]));
                }
            }
        }
        // Every range of every proof is the fold of its perfect subtrees, as
        // pushing the leaves reports them.
        let mut perfect = std::collections::HashMap::new();
        let mut f = Frontier::default();
        for leaf in &l {
            let at = f.size();
            f.push_with(*leaf, |h, i, r| {
                perfect.insert((h, i), *r);
            });
            perfect.insert((0, at), *leaf);
        }
        for n in 1..=l.len() as u64 {
            let ranges = (0..n)
                .flat_map(|i| inclusion_ranges(i, n).unwrap())
                .chain((0..=n).flat_map(|m| consistency_ranges(m, n).unwrap()));
            for (a, b) in ranges {
                let roots: Vec<Hash> = subtrees((a, b)).iter().map(|k| perfect[k]).collect();
                assert_eq!(fold(&roots), root(&l[a as usize..b as usize]), "range {a}..{b}");
            }
        }
        assert!(consistency_proof(71, &l).is_none());
        assert!(inclusion_proof(70, &l).is_none());
    }
}
