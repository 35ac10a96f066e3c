"""PyTorch eager twin of `benches/train_step.rs`: one training step of each model it times.

Tasks asr (speech) and str (word images), roles teacher, teacher-conformer, oracle, student,
student-frame-kd, built from experiments/presets/{asr,str}-oracle.toml as the bench builds them
(absent keys: the Rust defaults of EncoderConfig, OracleConfig, TrainConfig and the data
configs). A step: the oracle's label input drawn by its anti-copy strategy (as
`AntiCopy::training_inputs`); forward with dropout on; log_softmax + F.ctc_loss (blank 0,
'mean' = the project's `Reduction::Mean`: NLL / target length, batch mean; zero_infinity as
`train_ctc_options`); the frame-KD term for student-frame-kd; backward; clip_grad_norm_ at the
preset's clip; the preset's warmup-cosine lr; AdamW (0.9, 0.999, eps 1e-8, the preset's lr and
weight decay).

Each model is first described without torch, as a tree of `Part`s named like the Rust vars
(`model.encoder.blocks.block0.attn.q.weight`) with the Rust tensor shapes; the torch modules are
built from that tree, leaf by leaf, and each leaf's torch parameter count is checked against its
description. `--param-counts` prints the description's counts and shapes as JSON without
importing torch, and tests/torch_twin.rs (cargo test, CI) fails when they differ from the models
the Rust bench builds. `--expect FILE` (the bench's `TRAIN_STEP_PARAM_COUNTS=1` output) also
checks the timed lines against a given bench binary; docs/benchmarks/measure.sh passes it.

Models, as tasks/core/src/nn, tasks/{asr,scene-text}/src/encoder.rs and oracle/src:
- encoder: 2 x (Conv1d k3 p1 + ReLU) for speech, the first at stride 2 and the second at
  stride 2 (`data.subsampling = 4`, the default) or 1 (`subsampling = 2`); or 4 x (Conv2d k3 p1
  + ReLU + max-pool) read as (B, W/4, C*2) for images; Linear to d; then the blocks.
- transformer blocks: sinusoidal positions; pre-LN blocks (explicit-matmul attention,
  key-padding bias, dropout on the weights; ReLU FFN; residual dropout); LayerNorm.
- Conformer blocks (tasks/core/src/nn/conformer.rs): half-step Swish FFN, rotary
  self-attention, convolution module (Linear to 2d, GLU, padding zeroed, depthwise Conv1d with
  groups = d and the encoder's `conv_kernel`, default 15, LayerNorm, Swish, Linear), half-step
  FFN, LayerNorm; no absolute positions and no final stack LayerNorm. teacher-conformer is the
  teacher's sizes with `kind = "conformer"`.
- teacher / student: encoder + Linear head. student-frame-kd: the student on 1.0 CTC + 1.0
  KL(P_T || P_S) per frame at tau 1, averaged over valid frames (student/src/losses/soft.rs),
  against teacher log-posteriors computed once in eval mode, untimed (the `TeacherOutputs` cache).
- oracle: encoder, then post-LN fusion blocks where frames cross-attend to an embedding (V+1, d)
  of the strategy's label input (label-context: plus learned maps of each label's neighbours;
  sinusoidal label positions where the strategy or `label_positions` says; `scale_embeddings`),
  padding masked; head. Every strategy's training input is drawn as in oracle/src/anti_copy.rs:
  structural, no-label-position and label-context feed the targets, label-masking the mask token
  with probability p, token-substitution another label with probability p, other-labels another
  example's labels with probability p, random-expansion a fresh expansion z with B(z) = y.

Differences from the Rust step (the twin does a little less work): no collate and no
SpecAugment (inputs are built once); the Rust step splits the batch into `shards` (2) on
parallel threads and sums their gradients, here the batch is one graph on torch's intra-op
threads; torch's and Python's random streams, not ctc_core::Rng, so data, label lengths, label
corruption and initial weights match in distribution only. The bench's `infer` lines are not
twinned.

Output: one line per model, like the bench's `train_step` lines (torch version, threads and
label lengths on stderr):  torch_step <task>-<role> params=<N> batch=<B>x<T> median_ms=<m> min_ms=<m>

Usage, from the repository root:
    python3 benches/torch_twin.py [--iters N] [--only asr-teacher,str-oracle] [--threads N]
    python3 benches/torch_twin.py --threads 1      # one thread
    python3 benches/torch_twin.py --device cuda    # on a GPU, beside TRAIN_STEP_DEVICE=cuda
    python3 benches/torch_twin.py --param-counts   # JSON, no torch needed
"""
import argparse, json, math, os, random, statistics, sys, time, tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WARMUP = 3
# Data as in the bench: its batch shapes, label lengths and seeds. Word-image labels run from 3
# characters to the preset's `data.render.max_len`.
TASKS = {"asr": dict(preset="asr-oracle", width=360, label_len=(40, 60), seed=0x5EEC),
         "str": dict(preset="str-oracle", width=128, label_min=3, seed=0x57A)}
ROLES = ["teacher", "teacher-conformer", "oracle", "student", "student-frame-kd"]
ENGLISH_CHARS = 28  # asr::ENGLISH_CHARS: 26 letters, apostrophe, space
SPACE_ID = 28  # its last character, after the blank at 0
DEFAULT_CONV_KERNEL = 15  # ctc_core::nn::DEFAULT_CONV_KERNEL
# oracle::anti_copy defaults of each strategy's parameters.
ANTI_COPY_DEFAULTS = {"random-expansion": dict(max_repeat=3, blank_prob=0.5, eval_samples=8),
                      "label-masking": dict(p=0.3), "other-labels": dict(p=0.2),
                      "token-substitution": dict(p=0.2)}
ANTI_COPY_NAMES = ["structural", "no-label-position", "random-expansion", "label-masking",
                   "other-labels", "token-substitution", "label-context"]

# ---------------------------------------------------------------------------------------------
# Presets and layer shapes: standard library only (the --param-counts path).


def load_preset(task):
    with open(os.path.join(ROOT, "experiments", "presets", TASKS[task]["preset"] + ".toml"), "rb") as f:
        return tomllib.load(f)


def task_dims(task, p):
    """What the task contributes to the models: vocabulary size (with blank), n_mels and the
    speech front end's subsampling, as the bench reads them from the preset's [data]."""
    data = p.get("data", {})
    if task == "asr":
        n_mels = data.get("synth", {}).get("features", {}).get("n_mels", 80)
        sub = data.get("subsampling", 4)
        if sub not in (2, 4):
            sys.exit(f"torch_twin: data.subsampling {sub} is not 2 or 4")
        return dict(vocab=1 + ENGLISH_CHARS, n_mels=n_mels, subsampling=sub)
    render = data.get("render", {})
    # scene_text::Alphabet: digits and lower case, plus upper case and 32 punctuation marks.
    chars = 36 + 26 * render.get("case_sensitive", False) + 32 * render.get("punctuation", False)
    return dict(vocab=1 + chars, max_len=render.get("max_len", 10))


def encoder_config(c):
    """An `EncoderConfig` table with its serde defaults filled in."""
    return dict(d_model=c["d_model"], layers=c["layers"], heads=c["heads"], d_ff=c["d_ff"],
                dropout=c.get("dropout", 0.0), conv_channels=c.get("conv_channels", 64),
                kind=c.get("kind", "transformer"), conv_kernel=c.get("conv_kernel", DEFAULT_CONV_KERNEL))


def anti_copy(c):
    """An `AntiCopy` table (`kind` plus its parameters) with the defaults filled in."""
    a = dict(c or {"kind": "no-label-position"})
    kind = a.get("kind", "no-label-position")
    if kind not in ANTI_COPY_NAMES:
        sys.exit(f"torch_twin: unknown anti-copy strategy {kind!r}")
    return {**ANTI_COPY_DEFAULTS.get(kind, {}), **a, "kind": kind}


def out_frames(task, n, subsampling=4):
    """CTC frames for `n` input frames or pixels: AsrEncoder::output_frames, CrnnEncoder's width / 4."""
    if task == "str":
        return n // 4
    stride2 = lambda m: 0 if m == 0 else (m - 1) // 2 + 1  # kernel 3, stride 2, padding 1
    return stride2(n) if subsampling == 2 else stride2(stride2(n))


class Part:
    """One module of a model: a `kind` (a leaf with parameters, or a node with sub-parts), its
    settings, and its sub-parts under the names the Rust code gives them (`vb.pp(name)`)."""

    def __init__(s, kind, parts=(), **cfg):
        s.kind, s.parts, s.cfg = kind, dict(parts), cfg

    def tensors(s, prefix):
        """(Rust var name, Rust shape) of every parameter under `prefix`."""
        if s.kind in LEAF_SHAPES:
            for name, shape in LEAF_SHAPES[s.kind](**s.cfg).items():
                yield f"{prefix}.{name}", shape
        for name, part in s.parts.items():
            yield from part.tensors(f"{prefix}.{name}")


# A leaf's parameters as the Rust code stores them. Settings that hold no parameters (stride,
# padding) are accepted and ignored.
LEAF_SHAPES = {
    "linear": lambda i, o: {"weight": (o, i), "bias": (o,)},  # ctc_core::ops::linear
    "layer_norm": lambda d: {"weight": (d,), "bias": (d,)},
    "conv1d": lambda i, o, k, stride, padding: {"weight": (o, i, k), "bias": (o,)},
    "conv2d": lambda i, o, k, padding: {"weight": (o, i, k, k), "bias": (o,)},
    "depthwise": lambda d, k: {"weight": (d, k), "bias": (d,)},  # ConvModule's (d, kernel)
    "embedding": lambda n, d: {"weight": (n, d)},  # candle_nn::embedding
}


def numel(shape):
    return math.prod(shape)


def linear(i, o):
    return Part("linear", i=i, o=o)


def layer_norm(d):
    return Part("layer_norm", d=d)


def attention(d, heads, p):  # ctc_core::nn::MultiHeadAttention
    return Part("attention", {n: linear(d, d) for n in "qkvo"}, heads=heads, p=p)


def feed_forward(d, d_ff, p, swish=False):  # ctc_core::nn::FeedForward
    return Part("feed_forward", dict(up=linear(d, d_ff), down=linear(d_ff, d)), p=p, swish=swish)


def encoder_stack(e):  # ctc_core::nn::EncoderStack
    d, h, ff, p = e["d_model"], e["heads"], e["d_ff"], e["dropout"]
    if e["kind"] == "conformer":
        k = e["conv_kernel"]
        conv = lambda: Part("conv_module", dict(
            ln=layer_norm(d), pointwise1=linear(d, 2 * d), depthwise=Part("depthwise", d=d, k=k),
            norm=layer_norm(d), pointwise2=linear(d, d)))
        block = lambda: Part("conformer_block", dict(
            ln_ff1=layer_norm(d), ff1=feed_forward(d, ff, p, swish=True), ln_attn=layer_norm(d),
            attn=attention(d, h, p), conv=conv(), ln_ff2=layer_norm(d),
            ff2=feed_forward(d, ff, p, swish=True), ln_out=layer_norm(d)), p=p)
        return Part("conformer_stack", {f"block{i}": block() for i in range(e["layers"])})
    if e["kind"] != "transformer":
        sys.exit(f"torch_twin: unknown encoder kind {e['kind']!r}")
    block = lambda: Part("transformer_block", dict(ln1=layer_norm(d), attn=attention(d, h, p),
                                                   ln2=layer_norm(d), ff=feed_forward(d, ff, p)), p=p)
    blocks = {f"block{i}": block() for i in range(e["layers"])}
    return Part("transformer_stack", {**blocks, "ln": layer_norm(d)})


def source_encoder(task, dims, e):  # AsrEncoder / CrnnEncoder
    ch, d = e["conv_channels"], e["d_model"]
    if task == "asr":
        sub = dims["subsampling"]
        return Part("asr_encoder", dict(
            conv1=Part("conv1d", i=dims["n_mels"], o=ch, k=3, stride=2, padding=1),
            conv2=Part("conv1d", i=ch, o=ch, k=3, stride=sub // 2, padding=1),
            proj=linear(ch, d), blocks=encoder_stack(e)), subsampling=sub)
    c = max(ch, 4)
    chans = [1, c // 4, c // 2, c, c]
    convs = {f"conv{i}": Part("conv2d", i=chans[i], o=chans[i + 1], k=3, padding=1) for i in range(4)}
    # Height 32 pooled to 2: each frame is a column group's (channel, row) features.
    return Part("crnn_encoder", {**convs, "proj": linear(c * 2, d), "blocks": encoder_stack(e)})


def ctc_model(task, dims, e):  # ctc_core::model::CtcModel
    return Part("ctc_model", dict(encoder=source_encoder(task, dims, e),
                                  head=linear(e["d_model"], dims["vocab"])))


def oracle_model(task, dims, sec):  # oracle::OracleTeacher
    e, v = encoder_config(sec["encoder"]), dims["vocab"]
    d, strategy = e["d_model"], anti_copy(sec.get("anti_copy"))
    positions = sec.get("label_positions")
    if positions is None:  # AntiCopy::default_label_positions
        positions = strategy["kind"] not in ("no-label-position", "label-context")
    parts = dict(encoder=source_encoder(task, dims, e),
                 # ids: 0 blank, 1..V-1 labels, V the mask token
                 label_embed=Part("embedding", n=v + 1, d=d))
    for i in range(sec.get("fusion_layers", 1)):
        parts[f"fusion{i}"] = Part("fusion_block", dict(
            cross=attention(d, e["heads"], e["dropout"]), ln1=layer_norm(d),
            ff=feed_forward(d, e["d_ff"], e["dropout"]), ln2=layer_norm(d)), p=e["dropout"])
    parts["head"] = linear(d, v)
    if strategy["kind"] == "label-context":
        parts["label_context"] = Part("label_context", dict(prev=linear(d, d), next=linear(d, d)))
    return Part("oracle", parts, label_positions=bool(positions),
                scale_embeddings=bool(sec.get("scale_embeddings", False))), strategy


def lines(task):
    """Every line of one task: name -> (model Part, its train table, the oracle's strategy or
    None), as bench_task in benches/train_step.rs builds them (student-frame-kd trains the
    student's model)."""
    p = load_preset(task)
    dims = task_dims(task, p)
    teacher = encoder_config(p["teacher"]["encoder"])
    student = ctc_model(task, dims, encoder_config(p["student"]["encoder"]))
    oracle, strategy = oracle_model(task, dims, p["oracle"])
    return p, dims, {
        f"{task}-teacher": (ctc_model(task, dims, teacher), p["teacher"]["train"], None),
        f"{task}-teacher-conformer": (ctc_model(task, dims, dict(teacher, kind="conformer")),
                                      p["teacher"]["train"], None),
        f"{task}-oracle": (oracle, p["oracle"]["train"], strategy),
        f"{task}-student": (student, p["student"]["train"], None),
        f"{task}-student-frame-kd": (student, p["student"]["train"], None),
    }


def param_counts():
    """Every line's parameter count and Rust-named tensor shapes, as the bench's
    `TRAIN_STEP_PARAM_COUNTS=1` prints them."""
    out = {}
    for task in TASKS:
        for name, (model, _, _) in lines(task)[2].items():
            tensors = dict(model.tensors("model"))
            out[name] = dict(params=sum(map(numel, tensors.values())),
                             tensors={k: list(v) for k, v in tensors.items()})
    return out


# The oracle's label inputs, as oracle::anti_copy::AntiCopy::training_inputs; `rng` is a
# random.Random. Label ids are 1..mask_token-1; mask_token is one past the CTC alphabet.

def random_expansion(y, frames, max_repeat, blank_prob, rng):
    z = []

    def blanks(at_least_one):
        n = int(at_least_one)
        while n < 3 and rng.random() < blank_prob:
            n += 1
        z.extend([0] * n)

    blanks(False)
    for i, k in enumerate(y):
        z.extend([k] * rng.randint(1, max(max_repeat, 1)))
        blanks(i + 1 < len(y) and y[i + 1] == k)  # equal neighbours need a blank between them
    if len(z) == frames:
        z.append(0)
    return z


def training_inputs(strategy, targets, frames, mask_token, rng):
    kind, n, labels = strategy["kind"], len(targets), mask_token - 1
    out = []
    for i, (y, t) in enumerate(zip(targets, frames)):
        if kind in ("structural", "no-label-position", "label-context"):
            out.append(list(y))
        elif kind == "random-expansion":
            out.append(random_expansion(y, t, strategy["max_repeat"], strategy["blank_prob"], rng))
        elif kind == "label-masking":
            out.append([mask_token if rng.random() < strategy["p"] else k for k in y])
        elif kind == "other-labels":
            if not rng.random() < strategy["p"]:
                out.append(list(y))
            elif n > 1:
                j = rng.randrange(n - 1)
                out.append(list(targets[j + 1 if j >= i else j]))
            else:
                out.append([1 + rng.randrange(max(labels, 1)) for _ in y])
        elif kind == "token-substitution":
            def substitute(k):  # another label, uniform; itself if the alphabet has one label
                if labels < 2:
                    return k
                j = 1 + rng.randrange(labels - 1)
                return j + 1 if j >= k else j
            out.append([substitute(k) if rng.random() < strategy["p"] else k for k in y])
        else:
            raise AssertionError(kind)
    return out


def lr_factor(tc, step):  # ctc_core::train::Schedule::WarmupCosine, min_ratio 0.05
    warm, total = tc.get("warmup", 100), tc.get("steps", 1000)
    if step < warm:
        return (step + 1) / warm
    prog = min((step - warm) / max(total - warm, 1), 1.0)
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * prog))


def check_expected(path, counts, names):
    """Exits when a line's count differs from the bench's JSON at `path` (`-`: stdin)."""
    with (sys.stdin if path == "-" else open(path)) as f:
        bench = json.load(f)
    for name in names:
        if name not in bench:
            sys.exit(f"torch_twin: {path} has no line {name}")
        b, t = bench[name], counts[name]
        if b["params"] != t["params"]:
            differ = [f"  {k}: bench {b['tensors'].get(k)}, twin {t['tensors'].get(k)}"
                      for k in sorted(set(b["tensors"]) | set(t["tensors"]))
                      if b["tensors"].get(k) != t["tensors"].get(k)]
            sys.exit(f"torch_twin: {name} has {t['params']} parameters, the bench {b['params']}: "
                     "drift\n" + "\n".join(differ))


# ---------------------------------------------------------------------------------------------
# Timing: torch, imported only here.

torch = nn = F = None


def import_torch():
    global torch, nn, F
    import warnings
    warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
    try:
        import torch, torch.nn as nn, torch.nn.functional as F
    except ImportError as e:
        sys.exit(f"torch_twin: timing needs PyTorch (pip install torch; --param-counts does not): {e}")


def drop(x, p, train):  # as ctc_core::nn::dropout: off in eval mode, p = 0 is a no-op
    return F.dropout(x, p, True) if train and p > 0 else x


def positions(t, d):  # ctc_core::nn::sinusoidal_positions: (T, d), sin/cos interleaved
    a = torch.arange(t).unsqueeze(1) * torch.exp(-(2 * torch.arange(d // 2)) * math.log(10000.0) / d)
    return torch.stack([torch.sin(a), torch.cos(a)], -1).reshape(t, d)


def valid_mask(lens, t):  # (B, T): 1 for valid positions
    return (torch.arange(t).unsqueeze(0) < torch.tensor(lens).unsqueeze(1)).float()


def key_padding_bias(lens, t):  # (B, 1, 1, T): 0 for valid keys, -1e9 for padding
    return ((valid_mask(lens, t) - 1.0) * 1e9).view(len(lens), 1, 1, t)


def rotary(x):  # ctc_core::nn::Rotary: dims (i, i + dh/2) of position t rotated by t * 10000^(-2i/dh)
    t, dh = x.shape[2], x.shape[3]
    a = torch.arange(t).unsqueeze(1) * torch.exp(-(2 * torch.arange(dh // 2)) * math.log(10000.0) / dh)
    cos, sin, (x1, x2) = torch.cos(a), torch.sin(a), x.chunk(2, -1)
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], -1)


# The nodes' forward passes. They are plain classes so that this file loads without torch;
# `build` makes each an nn.Module (the class mixed with nn.Module) holding its Part's settings as
# attributes and its sub-parts as sub-modules under the same names.

class Attention:  # ctc_core::nn::MultiHeadAttention
    def forward(s, x, kv, bias, rot=False):
        (b, tq, d), tk, hd = x.shape, kv.shape[1], x.shape[2] // s.heads
        q = s.q(x).view(b, tq, s.heads, hd).transpose(1, 2)
        k, v = (m(kv).view(b, tk, s.heads, hd).transpose(1, 2) for m in (s.k, s.v))
        if rot:
            q, k = rotary(q), rotary(k)
        w = torch.softmax(q @ k.transpose(-1, -2) * hd ** -0.5 + bias, -1)
        return s.o((drop(w, s.p, s.training) @ v).transpose(1, 2).reshape(b, tq, d))


class FeedForward:  # ctc_core::nn::FeedForward
    def forward(s, x):
        h = s.up(x)
        return s.down(drop(F.silu(h) if s.swish else torch.relu(h), s.p, s.training))


class TransformerBlock:  # pre-LN ctc_core::nn::TransformerBlock
    def forward(s, x, bias):
        h = s.ln1(x)
        x = x + drop(s.attn(h, h, bias), s.p, s.training)
        return x + drop(s.ff(s.ln2(x)), s.p, s.training)


class FusionBlock:  # post-LN oracle::fusion::FusionBlock: frames attend to the labels
    def forward(s, x, kv, bias):
        z = s.ln1(x + drop(s.cross(x, kv, bias), s.p, s.training))
        return s.ln2(z + drop(s.ff(z), s.p, s.training))


class ConvModule:  # ctc_core::nn::ConvModule
    def forward(s, x, mask):  # mask (B, T, 1): 1 for valid frames
        h = F.glu(s.pointwise1(s.ln(x)), -1) * mask
        return s.pointwise2(F.silu(s.norm(s.depthwise(h.transpose(1, 2)).transpose(1, 2))))


class ConformerBlock:  # ctc_core::nn::ConformerBlock
    def forward(s, x, bias, mask):
        x = x + 0.5 * drop(s.ff1(s.ln_ff1(x)), s.p, s.training)
        h = s.ln_attn(x)
        x = x + drop(s.attn(h, h, bias, rot=True), s.p, s.training)
        x = x + drop(s.conv(x, mask), s.p, s.training)
        x = x + 0.5 * drop(s.ff2(s.ln_ff2(x)), s.p, s.training)
        return s.ln_out(x)


def children(m, prefix):  # the numbered sub-modules (block0, block1, ...) in build order
    return [c for name, c in m.named_children() if name.startswith(prefix)]


class TransformerStack:  # ctc_core::nn::TransformerStack::encode
    def forward(s, h, lens):
        t = h.shape[1]
        h, bias = h + positions(t, h.shape[2]), key_padding_bias(lens, t)
        for blk in children(s, "block"):
            h = blk(h, bias)
        return s.ln(h)


class ConformerStack:  # ctc_core::nn::ConformerStack::encode
    def forward(s, h, lens):
        t = h.shape[1]
        bias, mask = key_padding_bias(lens, t), valid_mask(lens, t).unsqueeze(-1)
        for blk in children(s, "block"):
            h = blk(h, bias, mask)
        return h


class AsrEncoder:  # asr::encoder::AsrEncoder
    def forward(s, x, src_lens):
        h = x.transpose(1, 2)
        for conv in (s.conv1, s.conv2):
            h = torch.relu(conv(h))
        h = s.proj(h.transpose(1, 2))
        lens = [min(out_frames("asr", n, s.subsampling), h.shape[1]) for n in src_lens]
        return s.blocks(h, lens), lens


class CrnnEncoder:  # scene_text::encoder::CrnnEncoder
    def forward(s, x, src_lens):
        h = x
        for i, pool in enumerate([(2, 2), (2, 2), (2, 1), (2, 1)]):
            h = F.max_pool2d(torch.relu(getattr(s, f"conv{i}")(h)), pool, pool)
        b, c, hh, w = h.shape
        h = s.proj(h.permute(0, 3, 1, 2).reshape(b, w, c * hh))
        lens = [min(out_frames("str", n), w) for n in src_lens]
        return s.blocks(h, lens), lens


class CtcModel:  # ctc_core::model::CtcModel
    def forward(s, x, src_lens, labels=None):
        h, lens = s.encoder(x, src_lens)
        return s.head(h), lens


class LabelContext:  # the label-context maps `prev` and `next`, applied by Oracle.embed
    pass


class Oracle:  # oracle::OracleTeacher::forward, told `labels` = (padded ids, lengths)
    def embed(s, ids, lens):  # OracleTeacher::embed_labels
        e, (b, u), d = s.label_embed(ids), ids.shape, s.head.in_features
        if s.scale_embeddings:
            e = e * math.sqrt(d)
        if hasattr(s, "label_context"):
            # Padding zeroed first, so the last label's "next" is nothing like the first's "previous".
            e0, zero = e * valid_mask(lens, u).unsqueeze(2), e.new_zeros(b, 1, d)
            prev = torch.cat([zero, e0[:, :-1]], 1)
            nxt = torch.cat([e0[:, 1:], zero], 1)
            e = e0 + s.label_context.prev(prev) + s.label_context.next(nxt)
        if s.label_positions:
            e = e + positions(u, d)
        return e, key_padding_bias(lens, u)

    def forward(s, x, src_lens, labels):
        h, lens = s.encoder(x, src_lens)
        e, bias = s.embed(*labels)
        for blk in children(s, "fusion"):
            h = blk(h, e, bias)
        return s.head(h), lens


NODES = dict(attention=Attention, feed_forward=FeedForward, transformer_block=TransformerBlock,
             fusion_block=FusionBlock, conv_module=ConvModule, conformer_block=ConformerBlock,
             transformer_stack=TransformerStack, conformer_stack=ConformerStack,
             asr_encoder=AsrEncoder, crnn_encoder=CrnnEncoder, ctc_model=CtcModel,
             label_context=LabelContext, oracle=Oracle)


def leaf(part):
    c = part.cfg
    make = {
        "linear": lambda: nn.Linear(c["i"], c["o"]),
        "layer_norm": lambda: nn.LayerNorm(c["d"]),  # eps 1e-5, as ctc_core::nn::LayerNorm
        "conv1d": lambda: nn.Conv1d(c["i"], c["o"], c["k"], c["stride"], c["padding"]),
        "conv2d": lambda: nn.Conv2d(c["i"], c["o"], c["k"], 1, c["padding"]),
        # PyTorch's grouped Conv1d holds the (d, kernel) taps as (d, 1, kernel).
        "depthwise": lambda: nn.Conv1d(c["d"], c["d"], c["k"], padding=c["k"] // 2, groups=c["d"]),
        "embedding": lambda: nn.Embedding(c["n"], c["d"]),
    }[part.kind]
    return make()


_MODULE_CLASSES = {}


def build(part, path="model"):
    """The torch module of `part`; exits when a leaf's torch parameters are not the count its
    description (and so --param-counts) gives."""
    if part.kind in LEAF_SHAPES:
        m = leaf(part)
        want = sum(numel(s) for s in LEAF_SHAPES[part.kind](**part.cfg).values())
        have = sum(q.numel() for q in m.parameters())
        if have != want:
            sys.exit(f"torch_twin: {path} has {have} torch parameters, its description {want}")
        return m
    base = NODES[part.kind]
    if base not in _MODULE_CLASSES:
        _MODULE_CLASSES[base] = type(base.__name__, (base, nn.Module), {})
    m = _MODULE_CLASSES[base]()
    for key, value in part.cfg.items():
        setattr(m, key, value)
    for name, sub in part.parts.items():
        setattr(m, name, build(sub, f"{path}.{name}"))
    return m


def make_data(task, dims, batch):
    # Drawn on the CPU from a CPU generator whatever the device, so every device gets the same data.
    cfg, gen = TASKS[task], torch.Generator().manual_seed(TASKS[task]["seed"])
    rand_int = lambda lo, hi: int(torch.randint(lo, hi + 1, (1,), generator=gen, device="cpu"))
    width = cfg["width"]
    frames = out_frames(task, width, dims.get("subsampling", 4))
    targets = []
    for _ in range(batch):
        if task == "asr":  # letters (1..26) and spaces (p 0.2), none leading/trailing/doubled
            n, t = rand_int(*cfg["label_len"]), []
            while len(t) < n:
                space = 0 < len(t) < n - 1 and t[-1] != SPACE_ID and float(torch.rand(1, generator=gen, device="cpu")) < 0.2
                t.append(SPACE_ID if space else rand_int(1, 26))
        else:
            t = [rand_int(1, dims["vocab"] - 1) for _ in range(rand_int(cfg["label_min"], dims["max_len"]))]
        # CTC feasibility, as the bench checks: U + adjacent repeats <= frames.
        assert len(t) + sum(a == b for a, b in zip(t, t[1:])) <= frames, (task, len(t), frames)
        targets.append(t)
    if task == "asr":  # (B, T, n_mels) standard normal; (B, 1, 32, W) uniform in [-1, 1]
        x = torch.randn(batch, width, dims["n_mels"], generator=gen, device="cpu")
    else:
        x = torch.rand(batch, 1, 32, width, generator=gen, device="cpu") * 2 - 1
    lens = [len(t) for t in targets]
    print(f"{task}: label lengths mean {sum(lens) / batch:.1f}, min {min(lens)}, max {max(lens)}", file=sys.stderr)
    return x.to(torch.get_default_device()), [width] * batch, targets, [frames] * batch


def pad(seqs):  # ctc_core::task::pad_labels: 0-padded, at least one column
    u = max(1, *map(len, seqs))
    return torch.tensor([list(s) + [0] * (u - len(s)) for s in seqs])


def time_steps(model, tc, data, iters, label_input=None, teacher_lp=None):
    """`label_input(targets, frames)`: the oracle's label input of one step (drawn inside the
    step, as the Rust oracle draws it in its loss); None for the CTC models."""
    x, src_lens, targets, frames = data
    padded, tl = pad(targets), torch.tensor([len(t) for t in targets])
    lr, clip = tc.get("lr", 1e-3), tc.get("clip", 5.0)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.999), eps=1e-8,
                            weight_decay=tc.get("weight_decay", 1e-2))
    model.train()
    times = []
    for step in range(WARMUP + iters):
        t0 = time.perf_counter()
        labels = None
        if label_input is not None:
            fed = label_input(targets, frames)
            labels = (pad(fed), [len(z) for z in fed])
        logits, lens = model(x, src_lens, labels)
        il, lp = torch.tensor(lens), logits.log_softmax(-1)
        loss = F.ctc_loss(lp.transpose(0, 1), padded, il, tl, blank=0, reduction="mean", zero_infinity=True)
        if teacher_lp is not None:  # frame KD, tau 1, weight 1: KL averaged over valid frames
            mask = valid_mask(lens, lp.shape[1])
            log_t = teacher_lp.log_softmax(-1)  # as soft::kl_frames, which renormalises the cache
            loss = loss + ((log_t.exp() * (log_t - lp)).sum(-1) * mask).sum() / mask.sum().clamp(min=1.0)
        if not math.isfinite(loss.item()):
            sys.exit(f"torch_twin: non-finite loss at step {step}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        for g in opt.param_groups:
            g["lr"] = lr * lr_factor(tc, step)
        opt.step()
        if x.is_cuda:  # the step ends when the GPU has finished it
            torch.cuda.synchronize()
        if step >= WARMUP:
            times.append(time.perf_counter() - t0)
    return sorted(times)


def bench_task(task, iters, selected, counts):
    names = [f"{task}-{r}" for r in ROLES if f"{task}-{r}" in selected]
    if not names:
        return
    p, dims, models = lines(task)
    batch = p["teacher"]["train"].get("batch_size", 16)
    data = make_data(task, dims, batch)
    width = TASKS[task]["width"]

    def build_line(name):
        part, tc, strategy = models[name]
        m = build(part)
        n = sum(q.numel() for q in m.parameters() if q.requires_grad)
        if n != counts[name]["params"]:
            sys.exit(f"torch_twin: {name} has {n} torch parameters, its description {counts[name]['params']}")
        return m, tc, strategy, n

    def run(name, model, tc, strategy, n, teacher_lp=None):
        label_input = None
        if strategy is not None:
            rng = random.Random(TASKS[task]["seed"])
            mask_token = dims["vocab"]
            label_input = lambda targets, frames: training_inputs(strategy, targets, frames, mask_token, rng)
        t = time_steps(model, tc, data, iters, label_input, teacher_lp)
        print(f"torch_step {name} params={n} batch={batch}x{width} "
              f"median_ms={statistics.median(t) * 1e3:.1f} min_ms={t[0] * 1e3:.1f}", flush=True)

    # The bench's order: teacher, teacher-conformer, oracle, student, then the frame-KD student.
    teacher = None
    if {f"{task}-teacher", f"{task}-student-frame-kd"} & set(names):
        teacher = build_line(f"{task}-teacher")
    if f"{task}-teacher" in names:
        run(f"{task}-teacher", *teacher)
    for role in ["teacher-conformer", "oracle", "student"]:
        if f"{task}-{role}" in names:
            run(f"{task}-{role}", *build_line(f"{task}-{role}"))
    if f"{task}-student-frame-kd" in names:
        # The teacher cache: log-posteriors over the batch, once, in eval mode, not timed.
        teacher[0].eval()
        with torch.no_grad():
            teacher_lp = teacher[0](data[0], data[1])[0].log_softmax(-1)
        run(f"{task}-student-frame-kd", *build_line(f"{task}-student-frame-kd"), teacher_lp=teacher_lp)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--iters", type=int, default=10, help="timed steps per model, after 3 warm-ups")
    ap.add_argument("--only", help="comma-separated names, e.g. asr-teacher,str-student-frame-kd")
    ap.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's default)")
    ap.add_argument("--device", default="cpu", help="torch device the models train on: cpu (default), cuda, cuda:N")
    ap.add_argument("--param-counts", action="store_true",
                    help="print every line's parameter count and tensor shapes as JSON and exit (no torch)")
    ap.add_argument("--expect", metavar="FILE",
                    help="the bench's TRAIN_STEP_PARAM_COUNTS=1 JSON (- for stdin): exit when a timed "
                         "line's count differs (with --param-counts: any line's), before importing torch")
    a = ap.parse_args()
    counts = param_counts()
    if a.param_counts:
        if a.expect:
            check_expected(a.expect, counts, counts)
        json.dump(counts, sys.stdout, indent=1)
        print()
        return
    all_names = [f"{t}-{r}" for t in TASKS for r in ROLES]
    selected = all_names if a.only is None else [n.strip() for n in a.only.split(",")]
    if a.iters < 1 or set(selected) - set(all_names):
        ap.error(f"need --iters >= 1 and --only names among {', '.join(all_names)}")
    if a.expect:
        check_expected(a.expect, counts, selected)
    import_torch()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.set_default_device(a.device)
    torch.manual_seed(0)
    load = " ".join(open("/proc/loadavg").read().split()[:3]) if os.path.exists("/proc/loadavg") else "?"
    print(f"torch_twin: torch {torch.__version__}, device {a.device}, threads={torch.get_num_threads()}, {WARMUP} warm-up + "
          f"{a.iters} timed steps per model, load average {load}", file=sys.stderr)
    for task in TASKS:
        bench_task(task, a.iters, selected, counts)


if __name__ == "__main__":
    main()
