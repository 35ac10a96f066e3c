"""PyTorch eager CPU twin of `benches/train_step.rs`: one training step of each model it times.

Tasks asr (speech) and str (word images), roles teacher, teacher-conformer, oracle, student,
student-frame-kd. A
step: forward with dropout on; log_softmax + F.ctc_loss (blank 0, 'mean' = the project's
`Reduction::Mean`: NLL / target length, batch mean; zero_infinity as `train_ctc_options`); the
frame-KD term for student-frame-kd; backward; clip_grad_norm_ at the preset's clip; the preset's
warmup-cosine lr; AdamW (0.9, 0.999, eps 1e-8, the preset's lr and weight decay). Sizes,
dropout, batch and optimiser settings come from experiments/presets/{asr,str}-oracle.toml
(absent keys: the EncoderConfig/TrainConfig defaults); parameter counts are asserted against
the Rust bench's, so drift on either side fails loudly.

Models, as tasks/core/src/nn, tasks/{asr,scene-text}/src/encoder.rs and oracle/src:
- encoder: 2 x (Conv1d k3 s2 p1 + ReLU) for speech, or 4 x (Conv2d k3 p1 + ReLU + max-pool) read
  as (B, W/4, C*2) for images; Linear to d; sinusoidal positions; pre-LN blocks (explicit-matmul
  attention, key-padding bias, dropout on the weights; ReLU FFN; residual dropout); LayerNorm.
- teacher-conformer: the teacher's sizes with Conformer blocks (tasks/core/src/nn/conformer.rs):
  half-step Swish FFN, rotary self-attention, convolution module (Linear to 2d, GLU, padding
  zeroed, depthwise Conv1d with groups = d and the default kernel 15, LayerNorm, Swish, Linear),
  half-step FFN, LayerNorm; no absolute positions and no final stack LayerNorm.
- teacher / student: encoder + Linear head. student-frame-kd: the student on 1.0 CTC + 1.0
  KL(P_T || P_S) per frame at tau 1, averaged over valid frames (student/src/losses/soft.rs),
  against teacher log-posteriors computed once in eval mode, untimed (the `TeacherOutputs` cache).
- oracle: encoder, then post-LN fusion blocks where frames cross-attend to an embedding (V+1, d)
  of the true targets without label positions ("no-label-position"), padding masked; head.

Differences from the Rust step (the twin does a little less work): no collate and no
SpecAugment (inputs are built once); the Rust step splits the batch into `shards` (2) on
parallel threads and sums their gradients, here the batch is one graph on torch's intra-op
threads; torch's random streams, not ctc_core::Rng, so data, label lengths and initial weights
match in distribution only. The bench's `infer` lines are not twinned.

Output: one line per model, like the bench's `train_step` lines (torch version, threads and
label lengths on stderr):  torch_step <task>-<role> params=<N> batch=<B>x<T> median_ms=<m> min_ms=<m>

Usage, from the repository root:
    python3 benches/torch_twin.py [--iters N] [--only asr-teacher,str-oracle] [--threads N]
    python3 benches/torch_twin.py --threads 1      # one thread
"""
import argparse, math, os, statistics, sys, time, tomllib, warnings

warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
import torch, torch.nn as nn, torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WARMUP = 3
# The Rust bench's parameter counts (docs/benchmarks.md); student-frame-kd is the student.
EXPECTED = {"asr-teacher": 792317, "asr-teacher-conformer": 1389917, "asr-oracle": 796637,
            "asr-student": 212765, "str-teacher": 448821, "str-teacher-conformer": 804149,
            "str-oracle": 453685, "str-student": 55301}
# Data as in the bench. Vocab: asr::ENGLISH_CHARS (26 letters, apostrophe, space) + blank; word
# images: digits + lower case + blank. n_mels: the SynthConfig default (the preset keeps it).
TASKS = {"asr": dict(preset="asr-oracle", vocab=29, n_mels=80, width=360, label_len=(40, 60), seed=0x5EEC),
         "str": dict(preset="str-oracle", vocab=37, width=128, label_len=(3, 10), seed=0x57A)}
ROLES = ["teacher", "teacher-conformer", "oracle", "student", "student-frame-kd"]
CONV_KERNEL = 15  # ctc_core::nn::DEFAULT_CONV_KERNEL

def drop(x, p, train):  # as ctc_core::nn::dropout: off in eval mode, p = 0 is a no-op
    return F.dropout(x, p, True) if train and p > 0 else x

def positions(t, d):  # ctc_core::nn::sinusoidal_positions: (T, d), sin/cos interleaved
    a = torch.arange(t).unsqueeze(1) * torch.exp(-(2 * torch.arange(d // 2)) * math.log(10000.0) / d)
    return torch.stack([torch.sin(a), torch.cos(a)], -1).reshape(t, d)

def key_padding_bias(lens, t):  # (B, 1, 1, T): 0 for valid keys, -1e9 for padding
    valid = torch.arange(t).unsqueeze(0) < torch.tensor(lens).unsqueeze(1)
    return ((valid.float() - 1.0) * 1e9).view(len(lens), 1, 1, t)

def rotary(x):  # ctc_core::nn::Rotary: dims (i, i + dh/2) of position t rotated by t * 10000^(-2i/dh)
    t, dh = x.shape[2], x.shape[3]
    a = torch.arange(t).unsqueeze(1) * torch.exp(-(2 * torch.arange(dh // 2)) * math.log(10000.0) / dh)
    cos, sin, (x1, x2) = torch.cos(a), torch.sin(a), x.chunk(2, -1)
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], -1)

class MHA(nn.Module):  # ctc_core::nn::MultiHeadAttention
    def __init__(s, d, heads, p):
        super().__init__()
        s.q, s.k, s.v, s.o, s.h, s.p = *(nn.Linear(d, d) for _ in range(4)), heads, p

    def forward(s, x, kv, bias, rot=False):
        (b, tq, d), tk, hd = x.shape, kv.shape[1], x.shape[2] // s.h
        q = s.q(x).view(b, tq, s.h, hd).transpose(1, 2)
        k, v = (m(kv).view(b, tk, s.h, hd).transpose(1, 2) for m in (s.k, s.v))
        if rot:
            q, k = rotary(q), rotary(k)
        w = torch.softmax(q @ k.transpose(-1, -2) * hd ** -0.5 + bias, -1)
        return s.o((drop(w, s.p, s.training) @ v).transpose(1, 2).reshape(b, tq, d))

class Block(nn.Module):  # pre-LN ctc_core::nn::TransformerBlock; post_ln: oracle::fusion::FusionBlock
    def __init__(s, d, heads, ff, p, post_ln=False):
        super().__init__()
        s.attn, s.ln1, s.ln2 = MHA(d, heads, p), nn.LayerNorm(d), nn.LayerNorm(d)
        s.up, s.down, s.p, s.post_ln = nn.Linear(d, ff), nn.Linear(ff, d), p, post_ln

    def ff(s, x):
        return s.down(drop(torch.relu(s.up(x)), s.p, s.training))

    def forward(s, x, bias, kv=None):
        if s.post_ln:
            z = s.ln1(x + drop(s.attn(x, kv, bias), s.p, s.training))
            return s.ln2(z + drop(s.ff(z), s.p, s.training))
        h = s.ln1(x)
        x = x + drop(s.attn(h, h, bias), s.p, s.training)
        return x + drop(s.ff(s.ln2(x)), s.p, s.training)

class ConvModule(nn.Module):  # ctc_core::nn::ConvModule
    def __init__(s, d, k):
        super().__init__()
        s.ln, s.pw1, s.norm, s.pw2 = nn.LayerNorm(d), nn.Linear(d, 2 * d), nn.LayerNorm(d), nn.Linear(d, d)
        s.dw = nn.Conv1d(d, d, k, padding=k // 2, groups=d)

    def forward(s, x, mask):  # mask (B, T, 1): 1 for valid frames
        h = F.glu(s.pw1(s.ln(x)), -1) * mask
        return s.pw2(F.silu(s.norm(s.dw(h.transpose(1, 2)).transpose(1, 2))))

class ConformerBlock(nn.Module):  # ctc_core::nn::ConformerBlock
    def __init__(s, d, heads, ff, p):
        super().__init__()
        s.ln_ff1, s.ln_attn, s.ln_ff2, s.ln_out = (nn.LayerNorm(d) for _ in range(4))
        s.up1, s.down1, s.up2, s.down2 = nn.Linear(d, ff), nn.Linear(ff, d), nn.Linear(d, ff), nn.Linear(ff, d)
        s.attn, s.conv, s.p = MHA(d, heads, p), ConvModule(d, CONV_KERNEL), p

    def ffn(s, up, down, x):
        return down(drop(F.silu(up(x)), s.p, s.training))

    def forward(s, x, bias, mask):
        x = x + 0.5 * drop(s.ffn(s.up1, s.down1, s.ln_ff1(x)), s.p, s.training)
        h = s.ln_attn(x)
        x = x + drop(s.attn(h, h, bias, rot=True), s.p, s.training)
        x = x + drop(s.conv(x, mask), s.p, s.training)
        x = x + 0.5 * drop(s.ffn(s.up2, s.down2, s.ln_ff2(x)), s.p, s.training)
        return s.ln_out(x)

class Encoder(nn.Module):  # AsrEncoder / CrnnEncoder, then TransformerStack / ConformerStack::encode
    def __init__(s, task, c):
        super().__init__()
        d, ch, p, s.task = c["d_model"], c.get("conv_channels", 64), c.get("dropout", 0.0), task
        if task == "asr":
            s.front = nn.ModuleList([nn.Conv1d(TASKS[task]["n_mels"], ch, 3, 2, 1), nn.Conv1d(ch, ch, 3, 2, 1)])
            s.proj = nn.Linear(ch, d)
        else:
            ch = max(ch, 4)
            chans = [1, ch // 4, ch // 2, ch, ch]
            s.front = nn.ModuleList(nn.Conv2d(chans[i], chans[i + 1], 3, 1, 1) for i in range(4))
            s.proj = nn.Linear(ch * 2, d)  # height 32 pooled to 2
        s.conformer = c.get("kind") == "conformer"
        blk = ConformerBlock if s.conformer else Block
        s.blocks = nn.ModuleList(blk(d, c["heads"], c["d_ff"], p) for _ in range(c["layers"]))
        s.ln = None if s.conformer else nn.LayerNorm(d)

    def forward(s, x, src_lens):
        if s.task == "asr":
            h = x.transpose(1, 2)
            for conv in s.front:
                h = torch.relu(conv(h))
            h = h.transpose(1, 2)
        else:
            h = x
            for conv, pool in zip(s.front, [(2, 2), (2, 2), (2, 1), (2, 1)]):
                h = F.max_pool2d(torch.relu(conv(h)), pool, pool)
            b, c, hh, w = h.shape
            h = h.permute(0, 3, 1, 2).reshape(b, w, c * hh)
        h = s.proj(h)
        t = h.shape[1]
        lens = [min(out_frames(s.task, l), t) for l in src_lens]
        bias = key_padding_bias(lens, t)
        if s.conformer:
            mask = (torch.arange(t).unsqueeze(0) < torch.tensor(lens).unsqueeze(1)).float().unsqueeze(-1)
            for blk in s.blocks:
                h = blk(h, bias, mask)
            return h, lens
        h = h + positions(t, h.shape[2])
        for blk in s.blocks:
            h = blk(h, bias)
        return s.ln(h), lens

def out_frames(task, n):  # AsrEncoder::output_frames (two stride-2 convs) / CrnnEncoder (width / 4)
    return ((n - 1) // 2 + 1 - 1) // 2 + 1 if task == "asr" else n // 4

class CtcModel(nn.Module):  # ctc_core::model::CtcModel
    def __init__(s, task, c):
        super().__init__()
        s.encoder, s.head = Encoder(task, c), nn.Linear(c["d_model"], TASKS[task]["vocab"])

    def forward(s, x, src_lens, labels=None):
        h, lens = s.encoder(x, src_lens)
        return s.head(h), lens

class Oracle(nn.Module):  # oracle::OracleTeacher, no-label-position
    def __init__(s, task, c):
        super().__init__()
        if c.get("anti_copy", {}).get("kind", "no-label-position") != "no-label-position" \
                or c.get("label_positions") or c.get("scale_embeddings"):
            sys.exit("torch_twin: only the no-label-position oracle (no positions, unit scale) is twinned")
        e, v = c["encoder"], TASKS[task]["vocab"]
        s.encoder, s.embed, s.head = Encoder(task, e), nn.Embedding(v + 1, e["d_model"]), nn.Linear(e["d_model"], v)
        s.fusion = nn.ModuleList(Block(e["d_model"], e["heads"], e["d_ff"], e.get("dropout", 0.0), post_ln=True)
                                 for _ in range(c.get("fusion_layers", 1)))

    def forward(s, x, src_lens, labels):
        h, lens = s.encoder(x, src_lens)
        ids, label_lens = labels  # the true targets, padded with 0
        e, bias = s.embed(ids), key_padding_bias(label_lens, ids.shape[1])
        for blk in s.fusion:
            h = blk(h, bias, kv=e)
        return s.head(h), lens

def make_data(task, batch):
    cfg, gen = TASKS[task], torch.Generator().manual_seed(TASKS[task]["seed"])
    rand_int = lambda lo, hi: int(torch.randint(lo, hi + 1, (1,), generator=gen))
    targets = []
    for _ in range(batch):
        n = rand_int(*cfg["label_len"])
        if task == "asr":  # letters (1..26) and spaces (28, p 0.2), none leading/trailing/doubled
            t = []
            while len(t) < n:
                space = 0 < len(t) < n - 1 and t[-1] != 28 and float(torch.rand(1, generator=gen)) < 0.2
                t.append(28 if space else rand_int(1, 26))
        else:
            t = [rand_int(1, cfg["vocab"] - 1) for _ in range(n)]
        # CTC feasibility, as the bench checks: U + adjacent repeats <= frames.
        assert len(t) + sum(a == b for a, b in zip(t, t[1:])) <= out_frames(task, cfg["width"])
        targets.append(t)
    if task == "asr":  # (B, T, n_mels) standard normal; (B, 1, 32, W) uniform in [-1, 1]
        x = torch.randn(batch, cfg["width"], cfg["n_mels"], generator=gen)
    else:
        x = torch.rand(batch, 1, 32, cfg["width"], generator=gen) * 2 - 1
    lens = [len(t) for t in targets]
    print(f"{task}: label lengths mean {sum(lens) / batch:.1f}, min {min(lens)}, max {max(lens)}", file=sys.stderr)
    padded = nn.utils.rnn.pad_sequence([torch.tensor(t) for t in targets], batch_first=True)  # 0-padded
    return x, [cfg["width"]] * batch, padded, lens

def lr_factor(tc, step):  # ctc_core::train::Schedule::WarmupCosine, min_ratio 0.05
    warm, total = tc.get("warmup", 100), tc.get("steps", 1000)
    if step < warm:
        return (step + 1) / warm
    prog = min((step - warm) / max(total - warm, 1), 1.0)
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * prog))

def time_steps(model, tc, data, iters, teacher_lp=None):
    x, src_lens, targets, label_lens = data
    lr, clip, tl = tc.get("lr", 1e-3), tc.get("clip", 5.0), torch.tensor(label_lens)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.999), eps=1e-8,
                            weight_decay=tc.get("weight_decay", 1e-2))
    model.train()
    times = []
    for step in range(WARMUP + iters):
        t0 = time.perf_counter()
        logits, lens = model(x, src_lens, (targets, label_lens))
        il, lp = torch.tensor(lens), logits.log_softmax(-1)
        loss = F.ctc_loss(lp.transpose(0, 1), targets, il, tl, blank=0, reduction="mean", zero_infinity=True)
        if teacher_lp is not None:  # frame KD, tau 1, weight 1: KL averaged over valid frames
            mask = (torch.arange(lp.shape[1]).unsqueeze(0) < il.unsqueeze(1)).float()
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
        if step >= WARMUP:
            times.append(time.perf_counter() - t0)
    return sorted(times)

def bench_task(task, iters, selected):
    names = [f"{task}-{r}" for r in ROLES if f"{task}-{r}" in selected]
    if not names:
        return
    with open(os.path.join(ROOT, "experiments", "presets", TASKS[task]["preset"] + ".toml"), "rb") as f:
        p = tomllib.load(f)
    batch = p["teacher"]["train"].get("batch_size", 16)
    data = make_data(task, batch)

    def build(role):
        key = f"{task}-{role.removesuffix('-frame-kd')}"
        sec = p[key.split("-")[1]]
        if role == "teacher-conformer":
            sec = dict(sec, encoder=dict(sec["encoder"], kind="conformer"))
        m = Oracle(task, sec) if role == "oracle" else CtcModel(task, sec["encoder"])
        n = sum(q.numel() for q in m.parameters() if q.requires_grad)
        if n != EXPECTED[key]:
            sys.exit(f"torch_twin: {key} has {n} parameters, the Rust bench {EXPECTED[key]}: drift")
        return m, sec["train"], n

    def run(role, model, tc, n, teacher_lp=None):
        if f"{task}-{role}" not in names:
            return
        t = time_steps(model, tc, data, iters, teacher_lp)
        print(f"torch_step {task}-{role} params={n} batch={batch}x{TASKS[task]['width']} "
              f"median_ms={statistics.median(t) * 1e3:.1f} min_ms={t[0] * 1e3:.1f}", flush=True)

    # The bench's order: teacher, oracle, student, then the frame-KD student.
    teacher = build("teacher") if {f"{task}-teacher", f"{task}-student-frame-kd"} & set(names) else None
    if teacher:
        run("teacher", *teacher)
    if f"{task}-teacher-conformer" in names:
        run("teacher-conformer", *build("teacher-conformer"))
    for role in ["oracle", "student"]:
        run(role, *build(role))
    if teacher and f"{task}-student-frame-kd" in names:
        # The teacher cache: log-posteriors over the batch, once, in eval mode, not timed.
        teacher[0].eval()
        with torch.no_grad():
            teacher_lp = teacher[0](data[0], data[1])[0].log_softmax(-1)
        run("student-frame-kd", *build("student-frame-kd"), teacher_lp=teacher_lp)

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--iters", type=int, default=10, help="timed steps per model, after 3 warm-ups")
    ap.add_argument("--only", help="comma-separated names, e.g. asr-teacher,str-student-frame-kd")
    ap.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's default)")
    a = ap.parse_args()
    all_names = [f"{t}-{r}" for t in TASKS for r in ROLES]
    selected = all_names if a.only is None else [n.strip() for n in a.only.split(",")]
    if a.iters < 1 or set(selected) - set(all_names):
        ap.error(f"need --iters >= 1 and --only names among {', '.join(all_names)}")
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    load = " ".join(open("/proc/loadavg").read().split()[:3]) if os.path.exists("/proc/loadavg") else "?"
    print(f"torch_twin: torch {torch.__version__}, threads={torch.get_num_threads()}, {WARMUP} warm-up + "
          f"{a.iters} timed steps per model, load average {load}", file=sys.stderr)
    for task in TASKS:
        bench_task(task, a.iters, selected)

if __name__ == "__main__":
    main()
