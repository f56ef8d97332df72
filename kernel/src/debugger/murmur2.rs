//! MurmurHash2 (32-bit) of a string's UTF-8 bytes: how JupyterLab names a
//! cell's source file (`tmpFilePrefix + murmur2(code, hashSeed) + suffix`),
//! so the kernel must compute the very same number.

const M: u32 = 0x5bd1_e995;

/// The hash of `text` with `seed`.
pub(crate) fn murmur2(text: &str, seed: u32) -> u32 {
    let bytes = text.as_bytes();
    // The length is mixed in as JupyterLab does: modulo 2^32.
    let mut hash = seed ^ bytes.len() as u32;
    let mut chunks = bytes.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> 24;
        k = k.wrapping_mul(M);
        hash = hash.wrapping_mul(M) ^ k;
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (shift, byte) in tail.iter().enumerate().rev() {
            hash ^= u32::from(*byte) << (8 * shift);
        }
        hash = hash.wrapping_mul(M);
    }
    hash ^= hash >> 13;
    hash = hash.wrapping_mul(M);
    hash ^ (hash >> 15)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Figures from JupyterLab 4's own function (its bundle, run in node).
    #[test]
    fn the_hash_is_jupyterlabs() {
        let seed = 0xC70F_6907;
        assert_eq!(murmur2("", seed), 3_990_065_800);
        assert_eq!(murmur2("a", seed), 2_167_009_006);
        let cell = "let x: i32 = 41;\nlet y = x + 1;\nprintln!(\"y={}\", y);";
        assert_eq!(murmur2(cell, seed), 520_755_832);
        assert_eq!(murmur2("é ü 日本", seed), 816_068_797);
    }
}
