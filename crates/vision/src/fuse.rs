//! Fusion of pointwise chains. PP-OCR's LCNet blocks follow every convolution with a learnable
//! scale and shift, a hard-swish written as four operators (+3, clip to [0, 6], ×x, ÷6) and another
//! scale and shift: eight passes over a large feature map, each allocating its result. A chain of
//! such operators on one tensor runs here as one pass, block by block in cache, on every core.

use rayon::prelude::*;

/// One step of a fused chain. Registers are numbered in order of definition; register 0 is the
/// chain's input and every step defines the next register.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// `a·r + b`
    Affine {
        src: usize,
        a: f32,
        b: f32,
    },
    Clip {
        src: usize,
        lo: f32,
        hi: f32,
    },
    Relu {
        src: usize,
    },
    Sigmoid {
        src: usize,
    },
    HardSigmoid {
        src: usize,
        alpha: f32,
        beta: f32,
    },
    Mul {
        a: usize,
        b: usize,
    },
    Add {
        a: usize,
        b: usize,
    },
}

const BLOCK: usize = 2048;

/// Apply `steps` to every element of `input`; the result is the last register.
pub fn run(steps: &[Step], input: &[f32]) -> Vec<f32> {
    let mut out = vec![0f32; input.len()];
    // Each task takes many blocks so the registers are allocated once per task, not per block.
    let task = BLOCK * 32;
    out.par_chunks_mut(task).zip(input.par_chunks(task)).for_each(|(out, input)| {
        let mut regs: Vec<[f32; BLOCK]> = vec![[0f32; BLOCK]; steps.len() + 1];
        for (out, input) in out.chunks_mut(BLOCK).zip(input.chunks(BLOCK)) {
            run_block(steps, input, out, &mut regs);
        }
    });
    out
}

fn run_block(steps: &[Step], input: &[f32], out: &mut [f32], regs: &mut [[f32; BLOCK]]) {
    let n = input.len();
    regs[0][..n].copy_from_slice(input);
    for (i, step) in steps.iter().enumerate() {
        let (done, rest) = regs.split_at_mut(i + 1);
        let dst = &mut rest[0][..n];
        match *step {
            Step::Affine { src, a, b } => dst.iter_mut().zip(&done[src][..n]).for_each(|(d, s)| *d = a * s + b),
            Step::Clip { src, lo, hi } => dst.iter_mut().zip(&done[src][..n]).for_each(|(d, s)| *d = s.max(lo).min(hi)),
            Step::Relu { src } => dst.iter_mut().zip(&done[src][..n]).for_each(|(d, s)| *d = s.max(0.0)),
            Step::Sigmoid { src } => dst.iter_mut().zip(&done[src][..n]).for_each(|(d, s)| *d = 1.0 / (1.0 + (-s).exp())),
            Step::HardSigmoid { src, alpha, beta } => {
                dst.iter_mut().zip(&done[src][..n]).for_each(|(d, s)| *d = (alpha * s + beta).clamp(0.0, 1.0))
            }
            Step::Mul { a, b } => dst.iter_mut().zip(done[a][..n].iter().zip(&done[b][..n])).for_each(|(d, (x, y))| *d = x * y),
            Step::Add { a, b } => dst.iter_mut().zip(done[a][..n].iter().zip(&done[b][..n])).for_each(|(d, (x, y))| *d = x + y),
        }
    }
    out.copy_from_slice(&regs[steps.len()][..n]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hard_swish_chain_computes_x_times_clip_x_plus_3_over_6() {
        // r1 = 2x + 1 (scale, shift); r2 = r1 + 3; r3 = clip(r2, 0, 6); r4 = r1 · r3; r5 = r4 / 6
        let steps = [
            Step::Affine { src: 0, a: 2.0, b: 1.0 },
            Step::Affine { src: 1, a: 1.0, b: 3.0 },
            Step::Clip { src: 2, lo: 0.0, hi: 6.0 },
            Step::Mul { a: 1, b: 3 },
            Step::Affine { src: 4, a: 1.0 / 6.0, b: 0.0 },
        ];
        let input: Vec<f32> = (0..5000).map(|i| (i as f32 - 2500.0) / 500.0).collect();
        let out = run(&steps, &input);
        for (x, y) in input.iter().zip(&out) {
            let r1 = 2.0 * x + 1.0;
            let want = r1 * (r1 + 3.0).clamp(0.0, 6.0) / 6.0;
            assert!((y - want).abs() < 1e-5, "{x}: {y} vs {want}");
        }
    }
}
