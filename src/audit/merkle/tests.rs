//! The RFC's reference leaves, every proof up to 64 leaves against a straightforward recursive
//! implementation of the RFC's definitions over slices, and broken proofs refused.

use super::*;

fn hex32(text: &str) -> Hash {
    hex::decode(text).unwrap().try_into().unwrap()
}

/// RFC 6962's reference leaves (as transparency-dev's merkle test data uses them).
fn reference_leaves() -> Vec<Vec<u8>> {
    ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
        .iter()
        .map(|h| hex::decode(h).unwrap())
        .collect()
}

fn leaves(n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| format!("entry {i}").into_bytes()).collect()
}

fn tree_of(leaves: &[Vec<u8>]) -> MemoryTree {
    let mut tree = MemoryTree::default();
    for leaf in leaves {
        tree.push(leaf);
    }
    tree
}

// The definitions of RFC 6962 §2.1, written over slices of leaf hashes, independently of the
// stored-hash layout.
fn naive_root(d: &[Hash]) -> Hash {
    match d.len() {
        0 => empty_root(),
        1 => d[0],
        n => {
            let k = (1..n).rev().find(|k| k.is_power_of_two()).unwrap();
            node_hash(&naive_root(&d[..k]), &naive_root(&d[k..]))
        }
    }
}

fn naive_path(m: usize, d: &[Hash]) -> Vec<Hash> {
    let n = d.len();
    if n <= 1 {
        return Vec::new();
    }
    let k = (1..n).rev().find(|k| k.is_power_of_two()).unwrap();
    if m < k {
        let mut p = naive_path(m, &d[..k]);
        p.push(naive_root(&d[k..]));
        p
    } else {
        let mut p = naive_path(m - k, &d[k..]);
        p.push(naive_root(&d[..k]));
        p
    }
}

fn naive_subproof(m: usize, d: &[Hash], whole: bool) -> Vec<Hash> {
    let n = d.len();
    if m == n {
        return if whole { Vec::new() } else { vec![naive_root(d)] };
    }
    let k = (1..n).rev().find(|k| k.is_power_of_two()).unwrap();
    if m <= k {
        let mut p = naive_subproof(m, &d[..k], whole);
        p.push(naive_root(&d[k..]));
        p
    } else {
        let mut p = naive_subproof(m - k, &d[k..], false);
        p.push(naive_root(&d[..k]));
        p
    }
}

#[test]
fn the_reference_leaves_give_the_rfcs_root() {
    let tree = tree_of(&reference_leaves());
    assert_eq!(root(&tree, 8).unwrap(), hex32("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"));
    assert_eq!(root(&tree, 1).unwrap(), hex32("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"), "SHA-256(0x00)");
    assert_eq!(root(&tree, 0).unwrap(), hex32("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"), "SHA-256 of nothing");
    let hashes: Vec<Hash> = reference_leaves().iter().map(|l| leaf_hash(l)).collect();
    for size in 1..=8 {
        assert_eq!(root(&tree, size as u64).unwrap(), naive_root(&hashes[..size]), "size {size}");
    }
}

#[test]
fn every_inclusion_and_consistency_proof_up_to_64_leaves_is_the_rfcs_and_verifies() {
    let all = leaves(64);
    let tree = tree_of(&all);
    let hashes: Vec<Hash> = all.iter().map(|l| leaf_hash(l)).collect();
    for size in 1..=64usize {
        let root_n = root(&tree, size as u64).unwrap();
        assert_eq!(root_n, naive_root(&hashes[..size]));
        for index in 0..size {
            let path = inclusion_proof(&tree, index as u64, size as u64).unwrap().unwrap();
            assert_eq!(path, naive_path(index, &hashes[..size]), "inclusion {index} in {size}");
            verify_inclusion(index as u64, size as u64, &hashes[index], &path, &root_n).unwrap();
        }
        for first in 1..=size {
            let proof = consistency_proof(&tree, first as u64, size as u64).unwrap().unwrap();
            assert_eq!(proof, naive_subproof(first, &hashes[..size], true), "consistency {first} → {size}");
            let root_m = root(&tree, first as u64).unwrap();
            verify_consistency(first as u64, size as u64, &proof, &root_m, &root_n).unwrap();
        }
    }
    assert_eq!(inclusion_proof(&tree, 64, 64).unwrap(), None);
    assert_eq!(consistency_proof(&tree, 9, 8).unwrap(), None);
}

fn flipped(proof: &[Hash], i: usize, bit: usize) -> Vec<Hash> {
    let mut p = proof.to_vec();
    p[i][bit / 8] ^= 1 << (bit % 8);
    p
}

#[test]
fn a_broken_inclusion_proof_is_refused() {
    let all = leaves(40);
    let tree = tree_of(&all);
    for size in [2u64, 3, 5, 8, 13, 31, 32, 33, 39] {
        let root_n = root(&tree, size).unwrap();
        for index in 0..size {
            let leaf = leaf_hash(&all[index as usize]);
            let path = inclusion_proof(&tree, index, size).unwrap().unwrap();
            for i in 0..path.len() {
                for bit in [0, 7, 100, 255] {
                    assert!(verify_inclusion(index, size, &leaf, &flipped(&path, i, bit), &root_n).is_err(), "bit {bit} of {i}");
                }
            }
            let other = if index + 1 < size { index + 1 } else { index - 1 };
            assert!(verify_inclusion(other, size, &leaf, &path, &root_n).is_err(), "wrong index");
            // A size is bound to its root (the signed checkpoint names both): the proof checked as one
            // for the next tree, against that tree's root, fails.
            let next_root = root(&tree, size + 1).unwrap();
            assert!(verify_inclusion(index, size + 1, &leaf, &path, &next_root).is_err(), "wrong size {index} {size}");
            assert!(verify_inclusion(index, size, &leaf_hash(b"another"), &path, &root_n).is_err(), "another leaf");
            let mut extra = path.clone();
            extra.push(root_n);
            assert!(verify_inclusion(index, size, &leaf, &extra, &root_n).is_err(), "an extra node");
            let mut missing = path.clone();
            missing.pop();
            assert!(verify_inclusion(index, size, &leaf, &missing, &root_n).is_err(), "a missing node");
            assert!(verify_inclusion(size, size, &leaf, &path, &root_n).is_err(), "an index past the end");
        }
    }
}

#[test]
fn a_broken_consistency_proof_is_refused() {
    let all = leaves(40);
    let tree = tree_of(&all);
    for second in [2u64, 3, 7, 8, 9, 16, 17, 39] {
        let root_n = root(&tree, second).unwrap();
        for first in 1..second {
            let root_m = root(&tree, first).unwrap();
            let proof = consistency_proof(&tree, first, second).unwrap().unwrap();
            assert!(!proof.is_empty());
            for i in 0..proof.len() {
                assert!(
                    verify_consistency(first, second, &flipped(&proof, i, 3), &root_m, &root_n).is_err(),
                    "{first}→{second} bit in {i}"
                );
            }
            let next_root = root(&tree, second + 1).unwrap();
            assert!(verify_consistency(first, second + 1, &proof, &root_m, &next_root).is_err(), "wrong second size {first} {second}");
            if first > 1 {
                assert!(verify_consistency(first - 1, second, &proof, &root_m, &root_n).is_err(), "wrong first size");
            }
            let mut extra = proof.clone();
            extra.push(root_n);
            assert!(verify_consistency(first, second, &extra, &root_m, &root_n).is_err(), "an extra node");
            let mut missing = proof.clone();
            missing.pop();
            assert!(verify_consistency(first, second, &missing, &root_m, &root_n).is_err(), "a missing node");
            let forked =
                root(&tree_of(&leaves(first as usize - 1).into_iter().chain([b"forked".to_vec()]).collect::<Vec<_>>()), first).unwrap();
            assert!(verify_consistency(first, second, &proof, &forked, &root_n).is_err(), "a forked first tree");
        }
    }
    assert!(verify_consistency(5, 5, &[], &root(&tree, 5).unwrap(), &root(&tree, 5).unwrap()).is_ok());
    assert!(verify_consistency(5, 5, &[], &root(&tree, 5).unwrap(), &root(&tree, 6).unwrap()).is_err());
    assert!(verify_consistency(6, 5, &[], &root(&tree, 6).unwrap(), &root(&tree, 5).unwrap()).is_err());
}
