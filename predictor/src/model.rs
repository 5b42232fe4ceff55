//! The latency predictor network, HELP's shape, with hand-written forward and backward passes.
//!
//! ```text
//!  arch ──► encoder ──────────────┐ (hidden)
//!           Graph: GCN over a fixed DAG + a global node, read out at the global node
//!           Flat:  MLP over a one-hot vector
//!  hardware embedding ──► MLP(hw_dim → hidden → hidden) ──┘ (hidden)
//!  concat (2·hidden) ──► head → head ──► 1   (normalised latency)
//! ```
//! Every layer but the last is `relu(x W + b)`. Graph activations are kept node-major (row
//! `node · B + sample`) so that the neighbourhood aggregation of a whole batch is one matrix
//! product `Â · H` with `H` viewed as `nodes × (B · hidden)`.

use ndarray::{s, Array1, Array2, ArrayView2, Axis};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::params::{ParamSet, Tensor};
use crate::PredictorError;

/// How an architecture reaches the network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Encoder {
    /// A GCN over a DAG shared by every arch of the space. Each arch is `nodes × features` node
    /// features, row-major. `adjacency[i * nodes + j] = 1` when node `i` reads node `j`.
    Graph {
        nodes: usize,
        features: usize,
        adjacency: Vec<f32>,
        layers: usize,
    },
    /// An MLP over a flat vector of `features` (one-hot layer choices).
    Flat { features: usize, layers: usize },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub encoder: Encoder,
    pub hidden: usize,
    pub hw_dim: usize,
    pub head: usize,
}

impl Config {
    /// HELP's sizes: GCN 4 layers × 100 (or a 2-layer MLP × 100), hardware branch 10→100→100,
    /// head 200→200→200→1.
    pub fn help(encoder: Encoder) -> Config {
        Config {
            encoder,
            hidden: 100,
            hw_dim: 10,
            head: 200,
        }
    }

    /// Length of one encoded arch.
    pub fn input_dim(&self) -> usize {
        match &self.encoder {
            Encoder::Graph {
                nodes, features, ..
            } => nodes * features,
            Encoder::Flat { features, .. } => *features,
        }
    }

    fn encoder_layers(&self) -> usize {
        match &self.encoder {
            Encoder::Graph { layers, .. } | Encoder::Flat { layers, .. } => *layers,
        }
    }

    /// (fan_in, fan_out) of every linear layer, in parameter order.
    pub fn shapes(&self) -> Vec<(usize, usize)> {
        let h = self.hidden;
        let first_in = match &self.encoder {
            // The global node carries one extra feature that marks it.
            Encoder::Graph { features, .. } => features + 1,
            Encoder::Flat { features, .. } => *features,
        };
        let mut shapes = vec![(first_in, h)];
        shapes.extend((1..self.encoder_layers()).map(|_| (h, h)));
        shapes.extend([(self.hw_dim, h), (h, h)]);
        shapes.extend([(2 * h, self.head), (self.head, self.head), (self.head, 1)]);
        shapes
    }

    pub fn validate(&self) -> Result<(), PredictorError> {
        let bad = |why: String| Err(PredictorError::Config(why));
        if self.hidden == 0 || self.hw_dim == 0 || self.head == 0 || self.encoder_layers() == 0 {
            return bad("every layer size and the encoder depth must be positive".into());
        }
        match &self.encoder {
            Encoder::Graph {
                nodes,
                features,
                adjacency,
                ..
            } => {
                if *nodes == 0 || *features == 0 {
                    return bad("a graph encoder needs nodes and features".into());
                }
                if adjacency.len() != nodes * nodes {
                    return bad(format!(
                        "adjacency has {} entries for {nodes} nodes (expected {})",
                        adjacency.len(),
                        nodes * nodes
                    ));
                }
            }
            Encoder::Flat { features, .. } => {
                if *features == 0 {
                    return bad("a flat encoder needs features".into());
                }
            }
        }
        Ok(())
    }
}

/// The network for one [`Config`]; parameters live apart in a [`ParamSet`] so that adaptation
/// can work on copies.
#[derive(Debug, Clone)]
pub struct Model {
    config: Config,
    /// Row-normalised `(A + I)` with the global node (last) reading every node. Graph only.
    adj: Option<Array2<f32>>,
}

/// Everything the backward pass needs from the forward pass.
struct Trace {
    batch: usize,
    /// Input of each encoder layer (for the GCN: after aggregation) and its output.
    enc_in: Vec<Array2<f32>>,
    enc_out: Vec<Array2<f32>>,
    hw_in: Vec<Array2<f32>>,
    hw_out: Vec<Array2<f32>>,
    head_in: Vec<Array2<f32>>,
    head_out: Vec<Array2<f32>>,
}

/// What the loss compares.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Loss {
    /// Mean squared error on normalised latency (HELP).
    Mse,
    /// MSE plus `weight` × a pairwise logistic ranking loss over all pairs of the batch.
    MseRank { weight: f32 },
}

impl Model {
    pub fn new(config: Config) -> Result<Model, PredictorError> {
        config.validate()?;
        let adj = match &config.encoder {
            Encoder::Graph {
                nodes, adjacency, ..
            } => {
                let m = nodes + 1;
                let mut a = Array2::<f32>::zeros((m, m));
                for i in 0..*nodes {
                    for j in 0..*nodes {
                        a[[i, j]] = adjacency[i * nodes + j];
                    }
                }
                for j in 0..m {
                    a[[m - 1, j]] = 1.0;
                }
                for i in 0..m {
                    a[[i, i]] = 1.0;
                    let sum: f32 = a.row(i).sum();
                    a.row_mut(i).mapv_inplace(|v| v / sum);
                }
                Some(a)
            }
            Encoder::Flat { .. } => None,
        };
        Ok(Model { config, adj })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn init_params(&self, rng: &mut impl Rng) -> ParamSet {
        ParamSet::linear_init(&self.config.shapes(), rng)
    }

    /// Checks that `params` fits this model (a model file's weights against its config).
    pub fn check_params(&self, params: &ParamSet) -> Result<(), PredictorError> {
        let shapes = self.config.shapes();
        let ok = params.tensors.len() == shapes.len() * 2
            && shapes.iter().enumerate().all(|(i, &(fi, fo))| {
                let (w, b) = (&params.tensors[2 * i], &params.tensors[2 * i + 1]);
                (w.rows, w.cols, b.rows, b.cols) == (fi, fo, 1, fo)
                    && w.data.len() == fi * fo
                    && b.data.len() == fo
            });
        if ok {
            Ok(())
        } else {
            Err(PredictorError::Config(
                "the weights do not fit the model's layer sizes".into(),
            ))
        }
    }

    /// Normalised latency of each row of `x` (B × input_dim) on the device with embedding `hw`.
    pub fn predict(&self, p: &ParamSet, x: ArrayView2<f32>, hw: &[f32]) -> Array1<f32> {
        self.forward(p, x, hw, false).0
    }

    /// The head's last hidden layer (B × head): the features the output layer combines.
    pub fn head_features(&self, p: &ParamSet, x: ArrayView2<f32>, hw: &[f32]) -> Array2<f32> {
        let (_, mut t) = self.forward(p, x, hw, true);
        t.head_in.pop().expect("the head has an output layer")
    }

    /// Index of the output layer's weight in a [`ParamSet`] (its bias follows).
    pub fn output_layer(&self) -> usize {
        2 * (self.config.shapes().len() - 1)
    }

    /// Loss and its gradient with respect to every parameter.
    pub fn loss_grad(
        &self,
        p: &ParamSet,
        x: ArrayView2<f32>,
        hw: &[f32],
        y: &[f32],
        loss: Loss,
    ) -> (f32, ParamSet) {
        let (pred, trace) = self.forward(p, x, hw, true);
        let (value, dpred) = loss_and_grad(&pred, y, loss);
        (value, self.backward(p, &trace, dpred))
    }

    /// The forward pass; `keep` keeps every layer's input and output for the backward pass
    /// (prediction alone does not pay for the copies).
    fn forward(
        &self,
        p: &ParamSet,
        x: ArrayView2<f32>,
        hw: &[f32],
        keep: bool,
    ) -> (Array1<f32>, Trace) {
        assert_eq!(x.ncols(), self.config.input_dim(), "encoded arch length");
        assert_eq!(hw.len(), self.config.hw_dim, "hardware embedding length");
        let batch = x.nrows();
        let h = self.config.hidden;
        let layers = self.config.encoder_layers();
        let mut t = Trace {
            batch,
            enc_in: Vec::with_capacity(layers),
            enc_out: Vec::with_capacity(layers),
            hw_in: Vec::with_capacity(2),
            hw_out: Vec::with_capacity(2),
            head_in: Vec::with_capacity(3),
            head_out: Vec::with_capacity(2),
        };

        let arch_code = self.encode_archs(p, x, keep, &mut t);
        // Hardware branch (one row, shared by the batch).
        let base = 2 * layers;
        let mut u = Array2::from_shape_vec((1, hw.len()), hw.to_vec()).expect("hw row");
        for k in 0..2 {
            let out = relu(linear(
                &u,
                &p.tensors[base + 2 * k],
                &p.tensors[base + 2 * k + 1],
            ));
            t.hw_in.push(u);
            u = out.clone();
            t.hw_out.push(out);
        }

        // Head over [arch code | hardware code].
        let mut c = Array2::<f32>::zeros((batch, 2 * h));
        c.slice_mut(s![.., ..h]).assign(&arch_code);
        c.slice_mut(s![.., h..])
            .assign(&u.broadcast((batch, h)).expect("broadcast hw"));
        let base = base + 4;
        for k in 0..2 {
            let out = relu(linear(
                &c,
                &p.tensors[base + 2 * k],
                &p.tensors[base + 2 * k + 1],
            ));
            if keep {
                t.head_in.push(c);
                t.head_out.push(out.clone());
            }
            c = out;
        }
        let out = linear(&c, &p.tensors[base + 4], &p.tensors[base + 5]);
        if keep {
            t.head_in.push(c);
        }
        (out.column(0).to_owned(), t)
    }

    /// The arch encoder (GCN over the cell's graph, or an MLP): each arch's code, its
    /// layers' inputs and outputs kept in `t` for the backward pass when `keep`.
    fn encode_archs(
        &self,
        p: &ParamSet,
        x: ArrayView2<f32>,
        keep: bool,
        t: &mut Trace,
    ) -> Array2<f32> {
        let batch = x.nrows();
        let layers = self.config.encoder_layers();
        match (&self.config.encoder, &self.adj) {
            (
                Encoder::Graph {
                    nodes, features, ..
                },
                Some(adj),
            ) => {
                let m = nodes + 1;
                let f = *features;
                let mut hcur = Array2::<f32>::zeros((m * batch, f + 1));
                for b in 0..batch {
                    for i in 0..*nodes {
                        let src = x.slice(s![b, i * f..(i + 1) * f]);
                        hcur.slice_mut(s![i * batch + b, ..f]).assign(&src);
                    }
                    hcur[[nodes * batch + b, f]] = 1.0;
                }
                for l in 0..layers {
                    let agg = aggregate(adj, &hcur, m, batch);
                    let out = relu(linear(&agg, &p.tensors[2 * l], &p.tensors[2 * l + 1]));
                    if keep {
                        t.enc_in.push(agg);
                        t.enc_out.push(out.clone());
                    }
                    hcur = out;
                }
                hcur.slice(s![nodes * batch.., ..]).to_owned()
            }
            _ => {
                let mut hcur = x.to_owned();
                for l in 0..layers {
                    let out = relu(linear(&hcur, &p.tensors[2 * l], &p.tensors[2 * l + 1]));
                    if keep {
                        t.enc_in.push(hcur);
                        t.enc_out.push(out.clone());
                    }
                    hcur = out;
                }
                hcur
            }
        }
    }

    fn backward(&self, p: &ParamSet, t: &Trace, dpred: Array1<f32>) -> ParamSet {
        let mut g = p.zeros_like();
        let h = self.config.hidden;
        let layers = self.config.encoder_layers();
        let batch = t.batch;

        // Head.
        let base = 2 * layers + 4;
        let mut d = dpred.insert_axis(Axis(1));
        d = linear_backward(&t.head_in[2], &d, p, &mut g, base + 4, true);
        for k in (0..2).rev() {
            relu_backward(&mut d, &t.head_out[k]);
            d = linear_backward(&t.head_in[k], &d, p, &mut g, base + 2 * k, true);
        }
        let d_arch = d.slice(s![.., ..h]).to_owned();
        let mut d_hw = d.slice(s![.., h..]).sum_axis(Axis(0)).insert_axis(Axis(0));

        // Hardware branch.
        let hb = 2 * layers;
        for k in (0..2).rev() {
            relu_backward(&mut d_hw, &t.hw_out[k]);
            d_hw = linear_backward(&t.hw_in[k], &d_hw, p, &mut g, hb + 2 * k, k > 0);
        }

        // Encoder.
        match (&self.config.encoder, &self.adj) {
            (Encoder::Graph { nodes, .. }, Some(adj)) => {
                let m = nodes + 1;
                let mut d = Array2::<f32>::zeros((m * batch, h));
                d.slice_mut(s![nodes * batch.., ..]).assign(&d_arch);
                for l in (0..layers).rev() {
                    relu_backward(&mut d, &t.enc_out[l]);
                    let d_agg = linear_backward(&t.enc_in[l], &d, p, &mut g, 2 * l, l > 0);
                    if l > 0 {
                        d = aggregate(&adj.t().to_owned(), &d_agg, m, batch);
                    }
                }
            }
            _ => {
                let mut d = d_arch;
                for l in (0..layers).rev() {
                    relu_backward(&mut d, &t.enc_out[l]);
                    d = linear_backward(&t.enc_in[l], &d, p, &mut g, 2 * l, l > 0);
                }
            }
        }
        g
    }
}

/// `Â · H` for every sample at once: node-major `H` (m·B × d) viewed as m × (B·d).
fn aggregate(adj: &Array2<f32>, hcur: &Array2<f32>, m: usize, batch: usize) -> Array2<f32> {
    let d = hcur.ncols();
    let hv = hcur
        .view()
        .into_shape_with_order((m, batch * d))
        .expect("node-major layout");
    adj.dot(&hv)
        .into_shape_with_order((m * batch, d))
        .expect("node-major layout")
}

fn linear(x: &Array2<f32>, w: &Tensor, b: &Tensor) -> Array2<f32> {
    let mut out = x.dot(&w.view());
    out += &b.view();
    out
}

fn relu(mut x: Array2<f32>) -> Array2<f32> {
    x.mapv_inplace(|v| v.max(0.0));
    x
}

/// Turns d(out) into d(pre-activation) in place: zero where the ReLU was off.
fn relu_backward(d: &mut Array2<f32>, out: &Array2<f32>) {
    ndarray::Zip::from(d).and(out).for_each(|d, &o| {
        if o <= 0.0 {
            *d = 0.0;
        }
    });
}

/// Accumulates dW = xᵀ·dz and db = Σ dz into `g` at `index`, and returns dx (when wanted).
fn linear_backward(
    x: &Array2<f32>,
    dz: &Array2<f32>,
    p: &ParamSet,
    g: &mut ParamSet,
    index: usize,
    want_dx: bool,
) -> Array2<f32> {
    let dw = x.t().dot(dz);
    g.tensors[index].view_mut().scaled_add(1.0, &dw);
    let db = dz.sum_axis(Axis(0));
    g.tensors[index + 1]
        .view_mut()
        .row_mut(0)
        .scaled_add(1.0, &db);
    if want_dx {
        dz.dot(&p.tensors[index].view().t())
    } else {
        Array2::zeros((0, 0))
    }
}

/// Loss value and d(loss)/d(prediction).
pub fn loss_and_grad(pred: &Array1<f32>, y: &[f32], loss: Loss) -> (f32, Array1<f32>) {
    let n = pred.len().max(1) as f32;
    let mut value = 0.0;
    let mut d = Array1::<f32>::zeros(pred.len());
    for i in 0..pred.len() {
        let e = pred[i] - y[i];
        value += e * e / n;
        d[i] = 2.0 * e / n;
    }
    if let Loss::MseRank { weight } = loss {
        // Pairwise logistic loss on the ordered pairs: log(1 + exp(-(p_i - p_j))) for y_i > y_j.
        // Predictions are normalised latencies (~0..1), so differences are scaled to matter.
        const SCALE: f32 = 10.0;
        let mut pairs = 0usize;
        let mut rank_value = 0.0;
        let mut rank_d = Array1::<f32>::zeros(pred.len());
        for i in 0..pred.len() {
            for j in 0..pred.len() {
                if y[i] > y[j] {
                    let z = SCALE * (pred[i] - pred[j]);
                    rank_value += softplus(-z);
                    let s = sigmoid(-z);
                    rank_d[i] -= SCALE * s;
                    rank_d[j] += SCALE * s;
                    pairs += 1;
                }
            }
        }
        if pairs > 0 {
            let k = weight / pairs as f32;
            value += k * rank_value;
            d.scaled_add(k, &rank_d);
        }
    }
    (value, d)
}

fn softplus(z: f32) -> f32 {
    if z > 20.0 {
        z
    } else {
        z.exp().ln_1p()
    }
}

fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}
