//! Matrices as strided views of `f32` slices, and their product by matrixmultiply's `sgemm`,
//! with the bounds checked here so that the unsafe kernel never reads or writes outside them.
//!
//! Strides let the encoder take an attention head's columns, or a weight's transpose, without
//! copying.

/// A `rows × cols` matrix inside `data`: element (i, j) at `offset + i·row_stride + j·col_stride`.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    data: &'a [f32],
    shape: Shape,
}

/// The same layout over a mutable slice, for results.
#[derive(Debug)]
pub struct ViewMut<'a> {
    data: &'a mut [f32],
    shape: Shape,
}

#[derive(Debug, Clone, Copy)]
struct Shape {
    offset: usize,
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl Shape {
    fn row_major(rows: usize, cols: usize) -> Self {
        Self { offset: 0, rows, cols, row_stride: cols, col_stride: 1 }
    }

    fn columns(self, start: usize, count: usize) -> Self {
        assert!(start + count <= self.cols, "columns {start}..{} of {}", start + count, self.cols);
        Self { offset: self.offset + start * self.col_stride, cols: count, ..self }
    }

    /// Panics unless every element lies inside a slice of `len`: the kernel reads raw pointers.
    fn check(&self, len: usize) {
        let last = match (self.rows, self.cols) {
            (0, _) | (_, 0) => return,
            (rows, cols) => self.offset + (rows - 1) * self.row_stride + (cols - 1) * self.col_stride,
        };
        assert!(last < len, "a {}×{} view reaches element {last} of {len}", self.rows, self.cols);
    }
}

impl<'a> View<'a> {
    /// `data` as a contiguous row-major `rows × cols` matrix.
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self { data, shape: Shape::row_major(rows, cols) }
    }

    /// Columns `start..start + count`, rows unchanged.
    pub fn columns(self, start: usize, count: usize) -> Self {
        Self { shape: self.shape.columns(start, count), ..self }
    }

    /// The transpose, without moving anything.
    pub fn t(self) -> Self {
        let shape = self.shape;
        Self {
            shape: Shape {
                rows: shape.cols,
                cols: shape.rows,
                row_stride: shape.col_stride,
                col_stride: shape.row_stride,
                ..shape
            },
            ..self
        }
    }
}

impl<'a> ViewMut<'a> {
    pub fn row_major(data: &'a mut [f32], rows: usize, cols: usize) -> Self {
        Self { data, shape: Shape::row_major(rows, cols) }
    }

    pub fn columns(self, start: usize, count: usize) -> Self {
        Self { shape: self.shape.columns(start, count), ..self }
    }
}

/// `out = scale · a · b`, or `out += scale · a · b` when `accumulate` (for a bias already in
/// `out`).
pub fn product(a: View, b: View, out: ViewMut, scale: f32, accumulate: bool) {
    let (a_shape, b_shape, out_shape) = (a.shape, b.shape, out.shape);
    assert!(
        a_shape.cols == b_shape.rows && out_shape.rows == a_shape.rows && out_shape.cols == b_shape.cols,
        "({}×{}) · ({}×{}) into {}×{}",
        a_shape.rows,
        a_shape.cols,
        b_shape.rows,
        b_shape.cols,
        out_shape.rows,
        out_shape.cols
    );
    a_shape.check(a.data.len());
    b_shape.check(b.data.len());
    out_shape.check(out.data.len());
    if out_shape.rows == 0 || out_shape.cols == 0 {
        return;
    }
    let stride = |s: usize| s as isize;
    // SAFETY: `check` proved every element each view addresses lies inside its slice, the
    // shapes agree (asserted above), and `out` is borrowed mutably, so it aliases neither input.
    unsafe {
        matrixmultiply::sgemm(
            a_shape.rows,
            a_shape.cols,
            b_shape.cols,
            scale,
            a.data.as_ptr().add(a_shape.offset),
            stride(a_shape.row_stride),
            stride(a_shape.col_stride),
            b.data.as_ptr().add(b_shape.offset),
            stride(b_shape.row_stride),
            stride(b_shape.col_stride),
            if accumulate { 1.0 } else { 0.0 },
            out.data.as_mut_ptr().add(out_shape.offset),
            stride(out_shape.row_stride),
            stride(out_shape.col_stride),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        (0..m).flat_map(|i| (0..n).map(move |j| (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum())).collect()
    }

    #[test]
    fn a_product_equals_the_textbook_sum() {
        let a: Vec<f32> = (0..6).map(|x| x as f32).collect(); // 2×3
        let b: Vec<f32> = (0..12).map(|x| (x as f32) * 0.5 - 2.0).collect(); // 3×4
        let mut out = vec![0.0; 8];
        product(View::row_major(&a, 2, 3), View::row_major(&b, 3, 4), ViewMut::row_major(&mut out, 2, 4), 1.0, false);
        assert_eq!(out, naive(&a, &b, 2, 3, 4));
    }

    #[test]
    fn transposes_columns_scale_and_accumulation_address_the_right_elements() {
        // b stored as its transpose (4×3), as a linear layer's weight is.
        let a: Vec<f32> = (0..6).map(|x| x as f32 + 1.0).collect(); // 2×3
        let b: Vec<f32> = (0..12).map(|x| x as f32).collect(); // 3×4 when read row-major
        let b_transposed: Vec<f32> = (0..4).flat_map(|j| (0..3).map(move |p| (p * 4 + j) as f32)).collect();
        let expected = naive(&a, &b, 2, 3, 4);

        // Into columns 1..5 of a 2×6 output that already holds ones: 1 + 2·(a·b) there, 1 elsewhere.
        let mut out = vec![1.0; 12];
        let target = ViewMut::row_major(&mut out, 2, 6).columns(1, 4);
        product(View::row_major(&a, 2, 3), View::row_major(&b_transposed, 4, 3).t(), target, 2.0, true);
        for i in 0..2 {
            for j in 0..6 {
                let want = if (1..5).contains(&j) { 1.0 + 2.0 * expected[i * 4 + j - 1] } else { 1.0 };
                assert_eq!(out[i * 6 + j], want, "({i}, {j})");
            }
        }

        // Columns of an input: a's last two columns times b's last two rows.
        let mut narrow = vec![0.0; 8];
        let b_rows = &b[4..];
        product(
            View::row_major(&a, 2, 3).columns(1, 2),
            View::row_major(b_rows, 2, 4),
            ViewMut::row_major(&mut narrow, 2, 4),
            1.0,
            false,
        );
        let a_tail: Vec<f32> = vec![a[1], a[2], a[4], a[5]];
        assert_eq!(narrow, naive(&a_tail, b_rows, 2, 2, 4));
    }

    #[test]
    #[should_panic(expected = "reaches element")]
    fn a_view_past_its_slice_is_refused_before_the_kernel_runs() {
        let short = vec![0.0; 5];
        let b = vec![0.0; 6];
        let mut out = vec![0.0; 4];
        product(
            View::row_major(&short, 2, 3),
            View::row_major(&b, 3, 2),
            ViewMut::row_major(&mut out, 2, 2),
            1.0,
            false,
        );
    }
}
