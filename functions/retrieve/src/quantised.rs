//! The vector scan's working copy: every unit vector as int8 codes with one scale per
//! vector. The scan reads a quarter of the bytes a float scan reads and multiplies integers
//! (which the compiler vectorises); its order is approximate, so the caller re-scores the
//! best few candidates exactly. Pure.

/// The largest code: a vector's largest component maps to ±127.
const LEVELS: f32 = 127.0;

/// Vectors of `dims` components, row `i` at `codes[i * dims..(i + 1) * dims]`.
#[derive(Debug, Default)]
pub struct Codes {
    dims: usize,
    codes: Vec<i8>,
    scales: Vec<f32>,
}

/// A vector as codes and the scale that turns them back into components.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoded {
    pub codes: Vec<i8>,
    pub scale: f32,
}

/// Codes each component as `round(x / scale)` with `scale = max |x| / 127`; the vector is
/// cut or padded to `dims`. A zero vector codes as zeros.
pub fn encode(vector: &[f32], dims: usize) -> Encoded {
    let largest = vector.iter().take(dims).fold(0.0f32, |m, x| m.max(x.abs()));
    let scale = if largest > 0.0 && largest.is_finite() { largest / LEVELS } else { 1.0 };
    let mut codes: Vec<i8> = vector
        .iter()
        .take(dims)
        // In range by construction (|x| <= largest); `as` saturates NaN to 0.
        .map(|x| (x / scale).round().clamp(-LEVELS, LEVELS) as i8)
        .collect();
    codes.resize(dims, 0);
    Encoded { codes, scale }
}

#[inline(always)]
fn dot(a: &[i8], b: &[i8]) -> i32 {
    a.iter().zip(b).map(|(&x, &y)| i32::from(x) * i32::from(y)).sum()
}

/// The scan: each accepted row of `codes` (`dims` codes a row, one scale each) with its dot
/// product with `query`. A plain loop, inlined whole into each build of it, `dot` included:
/// an iterator's `collect` is a function of its own, which a build for other instructions
/// would call compiled for the baseline.
#[inline(always)]
fn scan(codes: &[i8], scales: &[f32], dims: usize, query: &[i8], accept: impl Fn(usize) -> bool) -> Vec<(usize, f32)> {
    let mut scored = Vec::with_capacity(scales.len());
    for (row, (codes, scale)) in codes.chunks_exact(dims).zip(scales).enumerate() {
        if accept(row) {
            scored.push((row, dot(codes, query) as f32 * scale));
        }
    }
    scored
}

/// Defines `$name`: [`scan`] compiled for the instructions of `$feature`, which the caller
/// must check the CPU has.
macro_rules! scan_compiled_for {
    ($(#[$doc:meta])* $name:ident, $arch:literal, $feature:literal) => {
        $(#[$doc])*
        #[cfg(target_arch = $arch)]
        #[target_feature(enable = $feature)]
        fn $name(
            codes: &[i8],
            scales: &[f32],
            dims: usize,
            query: &[i8],
            accept: impl Fn(usize) -> bool,
        ) -> Vec<(usize, f32)> {
            scan(codes, scales, dims, query, accept)
        }
    };
}

scan_compiled_for!(
    /// [`scan`] compiled for AVX2.
    scan_avx2, "x86_64", "avx2"
);
scan_compiled_for!(
    /// [`scan`] compiled for the Arm dot product instructions (`sdot`), which Graviton has:
    /// four int8 products summed into each 32-bit lane in one instruction.
    scan_dotprod, "aarch64", "dotprod"
);

impl Codes {
    pub fn new(dims: usize) -> Self {
        Self { dims, ..Self::default() }
    }

    pub fn push(&mut self, vector: &[f32]) {
        let encoded = encode(vector, self.dims);
        self.codes.extend_from_slice(&encoded.codes);
        self.scales.push(encoded.scale);
    }

    pub fn len(&self) -> usize {
        self.scales.len()
    }

    pub fn is_empty(&self) -> bool {
        self.scales.is_empty()
    }

    /// Every row `accept` lets through, with its approximate dot product with `query`. On
    /// x86-64 the scan runs as compiled for AVX2 where the CPU has it: at 100k chunks a
    /// vector search took 3.7–4.0 ms against 9.7–10.4 ms as compiled for the baseline,
    /// which may only assume SSE2 (bench/RESULTS.md, issue 19). On arm64 (Lambda) it runs
    /// as compiled for the dot product instructions where the CPU has them (decision 42).
    fn scores(&self, query: &[i8], accept: impl Fn(usize) -> bool) -> Vec<(usize, f32)> {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: `scan_avx2` needs AVX2, and the CPU has it (checked just above).
            return unsafe { scan_avx2(&self.codes, &self.scales, self.dims, query, accept) };
        }
        #[cfg(target_arch = "aarch64")]
        if std::arch::is_aarch64_feature_detected!("dotprod") {
            // SAFETY: `scan_dotprod` needs the dot product instructions, and the CPU has them
            // (checked just above).
            return unsafe { scan_dotprod(&self.codes, &self.scales, self.dims, query, accept) };
        }
        scan(&self.codes, &self.scales, self.dims, query, accept)
    }

    /// The `candidates` rows `accept` lets through with the highest approximate dot
    /// product with `query`, best first.
    pub fn nearest(&self, query: &[f32], candidates: usize, accept: impl Fn(usize) -> bool) -> Vec<usize> {
        if candidates == 0 || self.dims == 0 {
            return Vec::new();
        }
        let query = encode(query, self.dims);
        let mut scored = self.scores(&query.codes, accept);
        let by_score = |a: &(usize, f32), b: &(usize, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if scored.len() > candidates {
            scored.select_nth_unstable_by(candidates - 1, by_score);
            scored.truncate(candidates);
        }
        scored.sort_by(by_score);
        scored.into_iter().map(|(row, _)| row).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(seed: u64, dims: usize) -> Vec<f32> {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let v: Vec<f32> = (0..dims)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state % 2001) as f32 / 1000.0 - 1.0
            })
            .collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / norm).collect()
    }

    fn cosine(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn codes_keep_each_component_within_half_a_step() {
        let vector = [0.5f32, -0.25, 0.0, 0.125];
        let encoded = encode(&vector, 5);
        assert_eq!(encoded.codes, [127, -64, 0, 32, 0], "padded to dims");
        for (code, x) in encoded.codes.iter().zip(vector) {
            assert!((f32::from(*code) * encoded.scale - x).abs() <= encoded.scale / 2.0);
        }
        assert_eq!(encode(&[0.0, 0.0], 2).codes, [0, 0]);
        assert_eq!(encode(&[f32::NAN, 1.0], 2).codes[0], 0, "NaN does not panic");
    }

    #[test]
    fn the_exact_top_ten_is_among_the_candidates() {
        let dims = 384;
        let rows: Vec<Vec<f32>> = (0..3000).map(|i| unit(i, dims)).collect();
        let mut codes = Codes::new(dims);
        for row in &rows {
            codes.push(row);
        }
        assert_eq!(codes.len(), 3000);
        for q in 0..20 {
            let query = unit(100_000 + q, dims);
            let scores: Vec<f32> = rows.iter().map(|row| cosine(row, &query)).collect();
            let mut exact: Vec<usize> = (0..rows.len()).collect();
            exact.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
            let candidates = codes.nearest(&query, 40, |_| true);
            assert_eq!(candidates.len(), 40);
            for row in &exact[..10] {
                assert!(candidates.contains(row), "query {q}: exact hit {row} missed");
            }
            let even = codes.nearest(&query, 40, |row| row % 2 == 0);
            assert!(even.iter().all(|row| row % 2 == 0));
            let exact_even: Vec<usize> = exact.iter().copied().filter(|row| row % 2 == 0).take(10).collect();
            assert!(exact_even.iter().all(|row| even.contains(row)), "query {q}: filtered");
        }
    }

    #[test]
    fn the_scan_scores_every_accepted_row_as_the_baseline_build_does() {
        // On a CPU with AVX2 (or Arm's dot product) `scores` runs that build: it must score
        // exactly as the baseline build (integer dot products), and the row order must not depend on it.
        let dims = 384;
        let mut codes = Codes::new(dims);
        for i in 0..500 {
            codes.push(&unit(i, dims));
        }
        let query = encode(&unit(7_000, dims), dims).codes;
        let accept = |row: usize| row % 3 != 1;
        let scored = codes.scores(&query, accept);
        assert_eq!(scored.len(), 333, "the rows `accept` lets through, and only those");
        assert_eq!(scored, scan(&codes.codes, &codes.scales, dims, &query, accept));
        let (row, score) = scored[10];
        let by_hand = codes.codes[row * dims..(row + 1) * dims]
            .iter()
            .zip(&query)
            .map(|(&a, &b)| i32::from(a) * i32::from(b))
            .sum::<i32>() as f32
            * codes.scales[row];
        assert_eq!(score, by_hand);
    }
}
