//! Which matmul layout is fastest for small-batch linears on burn-flex.
use std::time::Instant;

use burn::backend::Flex;
use burn::tensor::{Distribution, Tensor};

type B = Flex;

fn main() {
    let dev = Default::default();
    let (k, n) = (576, 1536);
    let w = Tensor::<B, 2>::random([k, n], Distribution::Default, &dev); // [in, out]
    let wt = Tensor::<B, 2>::random([n, k], Distribution::Default, &dev); // [out, in] contiguous
    for m in [1, 2, 4, 8, 16] {
        let x = Tensor::<B, 2>::random([m, k], Distribution::Default, &dev);
        let reps = 200;
        let time = |f: &dyn Fn() -> Tensor<B, 2>| {
            let _ = f().into_data();
            let start = Instant::now();
            for _ in 0..reps {
                let _ = f().into_data();
            }
            start.elapsed().as_secs_f64() / reps as f64 * 1e6
        };
        let a = time(&|| x.clone().matmul(w.clone()));
        let b = time(&|| {
            w.clone()
                .transpose()
                .matmul(x.clone().transpose())
                .transpose()
        });
        let c = time(&|| x.clone().matmul(wt.clone().transpose()));
        let d = time(&|| wt.clone().matmul(x.clone().transpose()).transpose());
        println!(
            "m={m:>2} x*W {a:7.1} us | (W^T view * x^T)^T {b:7.1} | x*Wt^T view {c:7.1} | (Wt * x^T)^T {d:7.1}"
        );
    }
}
