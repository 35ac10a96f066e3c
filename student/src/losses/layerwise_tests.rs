use super::*;
use crate::losses::testutil::{check_grad, grad, scalar, tensor};
use candle_core::{Device, Var};
use candle_nn::VarMap;

fn log_sigmoid_ref(x: f64) -> f64 {
    // ln sigmoid(x) = -ln(1 + e^-x), in the form that does not overflow for either sign.
    if x >= 0.0 {
        -(-x).exp().ln_1p()
    } else {
        x - x.exp().ln_1p()
    }
}

fn cos_ref(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    dot / (na * nb)
}

#[test]
fn log_sigmoid_is_stable_and_exact() {
    let xs = [-100.0, -30.0, -2.0, 0.0, 0.5, 30.0, 100.0];
    for dtype in [DType::F64, DType::F32] {
        let t = tensor(&xs, xs.len()).to_dtype(dtype).unwrap();
        let got = log_sigmoid(&t).unwrap().to_dtype(DType::F64).unwrap();
        for (x, g) in xs.iter().zip(got.to_vec1::<f64>().unwrap()) {
            let tol = if dtype == DType::F64 { 1e-12 } else { 1e-5 };
            assert!(
                (g - log_sigmoid_ref(*x)).abs() <= tol * (1.0 + x.abs()),
                "{x}: {g}"
            );
        }
    }
    // The gradient is sigmoid(-x), including at the kink x = 0 and far in the tails.
    let (_, g) = grad(
        &|x: &Tensor| log_sigmoid(x)?.sum_all(),
        &tensor(&xs, xs.len()),
    );
    for (x, gi) in xs.iter().zip(&g) {
        assert!((gi - 1.0 / (1.0 + x.exp())).abs() < 1e-12, "{x}: {gi}");
    }
}

#[test]
fn one_layer_by_hand() {
    // h_hat = [[1, 0], [0, 2]], h = [[1, 1], [0, 1]]: |diff| sums to 2 over 2 frames x 2 dims;
    // cos = 1/sqrt(2) and 1.
    let p = tensor(&[1.0, 0.0, 0.0, 2.0], (1, 2, 2));
    let h = tensor(&[1.0, 1.0, 0.0, 1.0], (1, 2, 2));
    let expected = 0.5 - 0.5 * (log_sigmoid_ref(0.5f64.sqrt()) + log_sigmoid_ref(1.0));
    let got = scalar(&layerwise_loss(&[p], &[h], &[2]).unwrap());
    assert!((got - expected).abs() < 1e-7, "{got} vs {expected}");
}

const P0: [f64; 12] = [
    0.3, -1.2, 0.8, 1.1, 0.4, -0.5, // b0 frames 0, 1
    -0.7, 0.9, 0.2, 2.0, -1.0, 0.6, // b1 frame 0 valid, frame 1 padding
];
const H0: [f64; 12] = [
    0.5, -0.4, 1.0, 0.1, 0.9, -0.2, -0.3, 0.2, 0.8, 0.0, 0.0, 3.0,
];
const P1: [f64; 12] = [
    1.3, 0.2, -0.6, -0.1, 0.7, 0.9, 0.4, -0.8, 1.5, 0.3, 0.3, 0.3,
];
const H1: [f64; 12] = [
    0.9, 0.6, -0.1, 0.5, 0.2, 1.4, -0.2, -1.1, 0.7, 1.0, 1.0, 1.0,
];
const LENS: [usize; 2] = [2, 1];

fn reference() -> f64 {
    let frames = [(0, 0), (0, 1), (1, 0)];
    let mut total = 0.0;
    for (p, h) in [(&P0, &H0), (&P1, &H1)] {
        let (mut l1, mut cos) = (0.0, 0.0);
        for &(b, t) in &frames {
            let o = (b * 2 + t) * 3;
            let (a, c) = (&p[o..o + 3], &h[o..o + 3]);
            l1 += a.iter().zip(c).map(|(x, y)| (x - y).abs()).sum::<f64>();
            cos += log_sigmoid_ref(cos_ref(a, c));
        }
        total += l1 / (3.0 * 3.0) - cos / 3.0;
    }
    total
}

fn layers() -> (Vec<Tensor>, Vec<Tensor>) {
    let t = |d: &[f64]| tensor(d, (2, 2, 3));
    (vec![t(&P0), t(&P1)], vec![t(&H0), t(&H1)])
}

#[test]
fn two_layers_with_padding_match_reference() {
    let (p, h) = layers();
    let got = scalar(&layerwise_loss(&p, &h, &LENS).unwrap());
    assert!((got - reference()).abs() < 1e-7, "{got} vs {}", reference());
    assert!(layerwise_loss(&p, &h[..1], &LENS).is_err());
    assert!(layerwise_loss(&p, &h, &[2]).is_err());
}

#[test]
fn gradient_matches_finite_differences() {
    let (p, h) = layers();
    let f = |x: &Tensor| layerwise_loss(&[x.clone(), p[1].clone()], &h, &LENS);
    check_grad(&f, &p[0], 1e-6, 1e-6);
}

#[test]
fn padding_and_targets_are_inert() {
    let (p, h) = layers();
    let (mut p0, mut h0) = (P0, H0);
    p0[9..12].copy_from_slice(&[f64::NAN, 1e6, 0.0]);
    h0[9..12].copy_from_slice(&[0.0, f64::INFINITY, -5.0]);
    let (p2, h2) = (tensor(&p0, (2, 2, 3)), tensor(&h0, (2, 2, 3)));
    let run = |pp: &Tensor, hh: &Tensor| {
        grad(
            &|x: &Tensor| {
                layerwise_loss(
                    &[x.clone(), p[1].clone()],
                    &[hh.clone(), h[1].clone()],
                    &LENS,
                )
            },
            pp,
        )
    };
    let (l1, g1) = run(&p[0], &h[0]);
    let (l2, g2) = run(&p2, &h2);
    assert_eq!((l1, &g1), (l2, &g2));
    assert!(g2[9..12].iter().all(|g| *g == 0.0));

    let (pv, hv) = (
        Var::from_tensor(&p[0]).unwrap(),
        Var::from_tensor(&h[0]).unwrap(),
    );
    let grads = layerwise_loss(&[pv.as_tensor().clone()], &[hv.as_tensor().clone()], &LENS)
        .unwrap()
        .backward()
        .unwrap();
    assert!(grads.get(pv.as_tensor()).is_some());
    if let Some(g) = grads.get(hv.as_tensor()) {
        assert_eq!(scalar(&g.abs().unwrap().sum_all().unwrap()), 0.0);
    }
}

#[test]
fn config_layers() {
    assert_eq!(LayerwiseConfig::thirds(12).layers, [4, 8, 12]);
    assert_eq!(LayerwiseConfig::thirds(6).layers, [2, 4, 6]);
    assert_eq!(LayerwiseConfig::thirds(4).layers, [1, 2, 4]);
    assert_eq!(LayerwiseConfig::thirds(2).layers, [1, 2]);
    assert_eq!(LayerwiseConfig::thirds(1).layers, [1]);
    assert_eq!(LayerwiseConfig::resolve(&[], 9).unwrap().layers, [3, 6, 9]);
    assert_eq!(LayerwiseConfig::resolve(&[2, 5], 5).unwrap().layers, [2, 5]);
    assert!(LayerwiseConfig::resolve(&[6], 5).is_err());
    assert!(LayerwiseConfig::resolve(&[0], 5).is_err());
    assert!(LayerwiseConfig::resolve(&[2, 2], 5).is_err());
}

#[test]
fn heads_predict_chosen_layers_and_train() {
    let dev = Device::Cpu;
    let map = VarMap::new();
    let vb = VarBuilder::from_varmap(&map, DType::F32, &dev);
    let cfg = LayerwiseConfig { layers: vec![1, 3] };
    let heads = PredictionHeads::new(&cfg, 4, 3, vb.pp("kd")).unwrap();
    let mut names: Vec<String> = map.data().lock().unwrap().keys().cloned().collect();
    names.sort();
    assert_eq!(
        names,
        [
            "kd.head0.bias",
            "kd.head0.weight",
            "kd.head1.bias",
            "kd.head1.weight"
        ]
    );

    let student = Tensor::arange(0f32, 24.0, &dev)
        .unwrap()
        .affine(0.1, -1.0)
        .unwrap()
        .reshape((1, 6, 4))
        .unwrap();
    let hidden: Vec<Tensor> = (0..3)
        .map(|i| Tensor::full(i as f32 + 1.0, (1, 6, 3), &dev).unwrap())
        .collect();
    let targets = heads.targets(&hidden).unwrap();
    assert_eq!(scalar(&targets[0].mean_all().unwrap()), 1.0);
    assert_eq!(scalar(&targets[1].mean_all().unwrap()), 3.0);
    assert!(heads.targets(&hidden[..2]).is_err());

    let preds = heads.forward(&student).unwrap();
    assert_eq!(preds.len(), 2);
    assert_eq!(preds[0].dims(), &[1, 6, 3]);
    let grads = layerwise_loss(&preds, &targets, &[5])
        .unwrap()
        .backward()
        .unwrap();
    for var in map.all_vars() {
        let g = grads
            .get(var.as_tensor())
            .expect("every head parameter gets a gradient");
        assert!(scalar(&g.abs().unwrap().sum_all().unwrap()) > 0.0);
    }
}
