//! The RFC 6962 / RFC 9162 Merkle tree over the audit log: leaf hash SHA-256(0x00 ‖ leaf bytes),
//! node hash SHA-256(0x01 ‖ left ‖ right); the root of a tree of `n` leaves splits at the largest
//! power of two below `n`. Proofs are built from the hashes of complete (perfect, aligned)
//! subtrees only, the stored-hash layout of Go's sumdb `tlog`: level `l`, index `i` is the root of
//! leaves `i·2^l .. (i+1)·2^l`, written once, when its last leaf arrives. Any root, inclusion
//! proof or consistency proof then costs O(log n) stored hashes, never a scan.
//!
//! Verification follows RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2 (consistency) to the letter.

use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];

pub fn leaf_hash(bytes: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(bytes);
    h.finalize().into()
}

pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The hash of the empty tree: SHA-256 of nothing.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Where the complete subtrees' hashes are kept.
pub trait StoredHashes {
    type Error;
    /// The root of leaves `index·2^level .. (index+1)·2^level`, all of which are in the tree.
    fn node(&self, level: u32, index: u64) -> Result<Hash, Self::Error>;
}

/// The largest power of two strictly below `n` (n ≥ 2).
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// The root of leaves `start .. end` (`start` aligned as the RFC's recursion leaves it).
fn subtree<S: StoredHashes>(store: &S, start: u64, end: u64) -> Result<Hash, S::Error> {
    let size = end - start;
    if size.is_power_of_two() && start.is_multiple_of(size) {
        return store.node(size.trailing_zeros(), start / size);
    }
    let k = split(size);
    Ok(node_hash(&subtree(store, start, start + k)?, &subtree(store, start + k, end)?))
}

/// The root of the first `size` leaves.
pub fn root<S: StoredHashes>(store: &S, size: u64) -> Result<Hash, S::Error> {
    if size == 0 {
        return Ok(empty_root());
    }
    subtree(store, 0, size)
}

/// The inclusion proof of leaf `index` in the tree of the first `size` leaves (RFC 6962 §2.1.1),
/// or `None` when `index` is not below `size`.
pub fn inclusion_proof<S: StoredHashes>(store: &S, index: u64, size: u64) -> Result<Option<Vec<Hash>>, S::Error> {
    if index >= size {
        return Ok(None);
    }
    let mut path = Vec::new();
    let (mut start, mut end) = (0, size);
    // Walk down from the root, keeping each sibling; the path lists them leaf first.
    while end - start > 1 {
        let k = split(end - start);
        if index < start + k {
            path.push(subtree(store, start + k, end)?);
            end = start + k;
        } else {
            path.push(subtree(store, start, start + k)?);
            start += k;
        }
    }
    path.reverse();
    Ok(Some(path))
}

/// The consistency proof between the trees of the first `first` and `second` leaves (RFC 6962
/// §2.1.2), or `None` unless `first ≤ second`.
pub fn consistency_proof<S: StoredHashes>(store: &S, first: u64, second: u64) -> Result<Option<Vec<Hash>>, S::Error> {
    if first > second {
        return Ok(None);
    }
    if first == 0 || first == second {
        return Ok(Some(Vec::new()));
    }
    let mut proof = Vec::new();
    subproof(store, first, 0, second, true, &mut proof)?;
    Ok(Some(proof))
}

/// SUBPROOF(m, D[start..end], whole) of RFC 6962 §2.1.2, its hashes in the order the RFC lists them.
fn subproof<S: StoredHashes>(store: &S, m: u64, start: u64, end: u64, whole: bool, out: &mut Vec<Hash>) -> Result<(), S::Error> {
    let n = end - start;
    if m == n {
        if !whole {
            out.push(subtree(store, start, end)?);
        }
        return Ok(());
    }
    let k = split(n);
    if m <= k {
        subproof(store, m, start, start + k, whole, out)?;
        out.push(subtree(store, start + k, end)?);
    } else {
        subproof(store, m - k, start + k, end, false, out)?;
        out.push(subtree(store, start, start + k)?);
    }
    Ok(())
}

/// Why a proof does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("index {index} is not below the tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("the first tree ({first}) is larger than the second ({second})")]
    SizesOutOfOrder { first: u64, second: u64 },
    #[error("the proof has the wrong number of hashes")]
    WrongLength,
    #[error("the proof does not lead to the root")]
    RootMismatch,
}

/// RFC 9162 §2.1.3.2: whether `path` proves that `leaf` is leaf `index` of the tree of `size`
/// leaves whose root is `root`.
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, path: &[Hash], root: &Hash) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in path {
        if sn == 0 {
            return Err(ProofError::WrongLength);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(ProofError::WrongLength);
    }
    if r != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// RFC 9162 §2.1.4.2: whether `proof` shows the tree of `first` leaves with root `first_root` is a
/// prefix of the tree of `second` leaves with root `second_root`.
pub fn verify_consistency(first: u64, second: u64, proof: &[Hash], first_root: &Hash, second_root: &Hash) -> Result<(), ProofError> {
    if first > second {
        return Err(ProofError::SizesOutOfOrder { first, second });
    }
    if first == second {
        return match (proof.is_empty(), first_root == second_root) {
            (false, _) => Err(ProofError::WrongLength),
            (true, false) => Err(ProofError::RootMismatch),
            (true, true) => Ok(()),
        };
    }
    if first == 0 {
        // Every tree extends the empty one; there is nothing to prove.
        return if proof.is_empty() { Ok(()) } else { Err(ProofError::WrongLength) };
    }
    if proof.is_empty() {
        return Err(ProofError::WrongLength);
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if first.is_power_of_two() {
        path.push(*first_root);
    }
    path.extend_from_slice(proof);
    let (mut fn_, mut sn) = (first - 1, second - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if sn == 0 {
            return Err(ProofError::WrongLength);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(ProofError::WrongLength);
    }
    if fr != *first_root || sr != *second_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// The stored hashes a new leaf completes: its own (level 0) and each subtree it closes, as
/// `(level, index, hash)`, given the leaves before it (`size`) and a way to read stored hashes.
pub fn hashes_completed_by<S: StoredHashes>(store: &S, size: u64, leaf: Hash) -> Result<Vec<(u32, u64, Hash)>, S::Error> {
    let mut out = vec![(0, size, leaf)];
    let (mut level, mut index, mut hash) = (0u32, size, leaf);
    // A right child closes its parent: the left sibling is stored already.
    while index & 1 == 1 {
        let left = store.node(level, index - 1)?;
        hash = node_hash(&left, &hash);
        level += 1;
        index >>= 1;
        out.push((level, index, hash));
    }
    Ok(out)
}

/// The stored hashes a computation reads, found by running it once over stand-ins: which nodes a
/// root or a proof needs depends on the sizes alone, never on the hashes. A store that answers
/// asynchronously fetches these first and then runs the computation over a [`FetchedHashes`].
#[derive(Debug, Default)]
pub struct NeededHashes(std::cell::RefCell<Vec<(u32, u64)>>);

impl NeededHashes {
    pub fn of<T>(run: impl FnOnce(&NeededHashes) -> Result<T, std::convert::Infallible>) -> Vec<(u32, u64)> {
        let needed = NeededHashes::default();
        let _ = run(&needed);
        let mut nodes = needed.0.into_inner();
        nodes.sort_unstable();
        nodes.dedup();
        nodes
    }
}

impl StoredHashes for NeededHashes {
    type Error = std::convert::Infallible;

    fn node(&self, level: u32, index: u64) -> Result<Hash, Self::Error> {
        self.0.borrow_mut().push((level, index));
        Ok([0; 32])
    }
}

/// Stored hashes fetched ahead ([`NeededHashes`]); asking for one not fetched is an error.
#[derive(Debug, Default)]
pub struct FetchedHashes(pub std::collections::BTreeMap<(u32, u64), Hash>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the tree's hash at level {0}, index {1} is not stored")]
pub struct MissingHash(pub u32, pub u64);

impl StoredHashes for FetchedHashes {
    type Error = MissingHash;

    fn node(&self, level: u32, index: u64) -> Result<Hash, Self::Error> {
        self.0.get(&(level, index)).copied().ok_or(MissingHash(level, index))
    }
}

/// The stored hashes in memory: for tests, and for verifying an exported log offline.
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// Appends a leaf's bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        let size = self.size();
        let completed = hashes_completed_by(self, size, leaf_hash(bytes)).unwrap_or_else(|never| match never {});
        for (level, index, hash) in completed {
            if self.levels.len() <= level as usize {
                self.levels.push(Vec::new());
            }
            debug_assert_eq!(self.levels[level as usize].len() as u64, index);
            self.levels[level as usize].push(hash);
        }
    }
}

impl StoredHashes for MemoryTree {
    type Error = std::convert::Infallible;

    fn node(&self, level: u32, index: u64) -> Result<Hash, Self::Error> {
        Ok(self.levels[level as usize][index as usize])
    }
}

#[cfg(test)]
mod tests;
