"""The forecasting network: segment embedding, an lstmkit LSTM encoder, and a decoder.

Shapes: B windows, L lookback steps, Hz horizon steps, C target channels, Cx past-side
covariates (past-only and the history of known-future ones), Cf known-future covariates,
S static covariates, Q outputs per step (quantiles, or 1), N = B*C sequences in
channel-independent mode (N = B otherwise), W = lookback / segment_len encoder steps,
M = ceil(horizon / segment_len) decoder segments, d the LSTM width.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from lstmkit.forecasting.config import ModelConfig
from lstmkit.nn import LSTM

EPS = 1e-5


class ForecastNet(nn.Module):
    """LSTM forecaster for windows of ``WindowSet``.

    ``forward(y_past, x_past, x_future, static)`` returns the forecast in the scaled units of
    the targets: (B, Hz, C) for a point loss, (B, Hz, C, Q) for the quantile loss.

    Encoder: per-window normalisation (``normalization``), then the lookback is cut into W
    segments of ``segment_len`` steps, each embedded linearly (with its covariates) into d
    features, plus a static-covariate embedding; an :class:`lstmkit.nn.LSTM` (any variant,
    from ``cfg.lstm``) runs over the W segments.

    Decoders:
    - ``pmf``: for each output segment m, one step of the same LSTM from the encoder's final
      state with input [position embedding m ; channel embedding c] (+ embedded future
      covariates of segment m), all M segments in parallel; a linear layer maps each step to
      ``segment_len * Q`` values.
    - ``direct``: a linear layer from the final hidden state to all Hz * Q values; with
      known-future covariates, plus MQ-RNN's local MLP (Wen et al. 2017), shared by the steps,
      on [final state ; covariates of step t (; channel embedding c)], so that a covariate's
      effect can depend on the series, its static covariates and the channel.
    - ``autoregressive``: a second LSTM started from the encoder state produces one segment per
      step, fed the previous segment of its own output (the median for quantile losses);
      the highway and mean-reversion terms below are added afterwards, so they are not fed
      back.

    With ``future_context`` r > 0, every decoder sees, for each forecast step, the known-future
    covariates of the r steps before and after it as well (Cf * (2r + 1) features per step).

    With ``highway``, a linear map of each normalised channel's lookback to its horizon is
    added to the decoder's output (LSTNet's autoregressive highway). With ``mean_reversion``,
    ``level[h] * shift`` is added to forecast step h: the window's level (its normalisation
    shift, in the scaled units) times a learned coefficient per step, kept out of weight decay.
    """

    def __init__(self, cfg: ModelConfig, n_targets: int, n_past: int, n_future: int,
                 n_static: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.n_targets = n_targets
        self.n_future = n_future
        # known-future features per step: its own covariates and those of future_context
        # steps on either side
        n_future *= 2 * cfg.future_context + 1
        self.n_static = n_static
        seg, d = cfg.segment_len, cfg.hidden_size
        self.ci = cfg.channel_independent
        self.ch_in = 1 if self.ci else n_targets  # target values per step seen by one sequence
        self.n_segments_out = math.ceil(cfg.horizon / seg)
        self.q = cfg.n_outputs
        out_per_step = self.ch_in * self.q
        lstm_kwargs = dict(cfg.lstm)
        proj = int(lstm_kwargs.get("proj_size", 0) or 0)
        d_out = proj if proj else d

        self.embed = nn.Sequential(nn.Linear(seg * (self.ch_in + n_past), d), nn.ReLU())
        self.static_embed = nn.Linear(n_static, d) if n_static else None
        self.dropout = nn.Dropout(cfg.dropout)
        self.encoder = LSTM(d, d, cfg.num_layers, batch_first=True,
                            dropout=cfg.dropout if cfg.num_layers > 1 else 0.0, **lstm_kwargs)
        if cfg.decoder == "pmf":
            n_channels = n_targets if self.ci else 1
            self.pos_embed = nn.Parameter(torch.randn(self.n_segments_out, d // 2))
            self.channel_embed = nn.Parameter(torch.randn(n_channels, d - d // 2))
            self.future_embed = nn.Linear(seg * n_future, d) if n_future else None
            self.head = nn.Linear(d_out, seg * out_per_step)
        elif cfg.decoder == "direct":
            self.head = nn.Linear(d_out, cfg.horizon * out_per_step)
            self.local: nn.Sequential | None = None
            if n_future:
                n_channel = d // 4 if self.ci else 0
                if self.ci:
                    self.local_channel = nn.Parameter(torch.randn(n_targets, n_channel))
                self.local = nn.Sequential(nn.Linear(d_out + n_future + n_channel, d),
                                           nn.ReLU(), nn.Linear(d, out_per_step))
        else:
            self.dec_embed = nn.Sequential(
                nn.Linear(seg * (self.ch_in + n_future), d), nn.ReLU())
            self.decoder = LSTM(d, d, cfg.num_layers, batch_first=True,
                                dropout=cfg.dropout if cfg.num_layers > 1 else 0.0,
                                **lstm_kwargs)
            self.head = nn.Linear(d_out, seg * out_per_step)
        # LSTNet's linear highway, per channel: (.., L) -> (.., Hz)
        self.highway = nn.Linear(cfg.lookback, cfg.horizon) if cfg.highway else None
        if cfg.normalization != "none":
            # the untrained network forecasts the window's reference value (its last value or
            # mean): it starts from the naive forecast and learns the deviations from it
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)
            if getattr(self, "local", None) is not None:
                nn.init.zeros_(self.local[-1].weight)
                nn.init.zeros_(self.local[-1].bias)
            if self.highway is not None:
                nn.init.zeros_(self.highway.weight)
                nn.init.zeros_(self.highway.bias)
        # forecast step h moves by level[h] times the window's level: a negative level[h]
        # pulls the forecast back toward zero, the training mean under standard scaling
        self.level = nn.Parameter(torch.zeros(cfg.horizon)) if cfg.mean_reversion else None

    def no_weight_decay(self) -> set[str]:
        """Names of the parameters the optimiser leaves out of weight decay."""
        return {"level"} if self.level is not None else set()

    # -- helpers -------------------------------------------------------------------------
    def _normalize(self, y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """y (B, L, C) -> (normalised y, shift (B, 1, C), scale (B, 1, C))."""
        mode = self.cfg.normalization
        ones = torch.ones_like(y[:, :1])
        if mode == "last":
            shift = y[:, -1:].detach()
            return y - shift, shift, ones
        if mode == "mean":
            shift = y.mean(1, keepdim=True).detach()
            return y - shift, shift, ones
        if mode == "revin":
            shift = y.mean(1, keepdim=True).detach()
            scale = (y.var(1, keepdim=True, unbiased=False) + EPS).sqrt().detach()
            return (y - shift) / scale, shift, scale
        return y, torch.zeros_like(ones), ones

    def _normalize_past_covariates(self, x_past: Tensor) -> Tensor:
        """x_past (B, L, Cp + Cf) with its past-only columns (the first Cp) less each
        window's last value or mean (``past_covariate_normalization``)."""
        mode = self.cfg.past_covariate_normalization
        n_only = x_past.shape[-1] - self.n_future
        if mode == "none" or n_only == 0:
            return x_past
        only = x_past[..., :n_only]
        shift = only[:, -1:] if mode == "last" else only.mean(1, keepdim=True)
        only = only - shift.detach()
        # (without known-future columns, no zero-width concatenation: see forward)
        return torch.cat([only, x_past[..., n_only:]], dim=-1) if self.n_future else only

    def _per_sequence(self, t: Tensor, B: int) -> Tensor:
        """Repeat a per-window tensor (B, ...) for each channel sequence: (N, ...)."""
        return t.repeat_interleave(self.n_targets, dim=0) if self.ci else t

    def _future_segments(self, x_future: Tensor) -> Tensor:
        """(B, Hz, Cf) -> (B, M, seg * Cf), zero-padded past the horizon."""
        B, Hz, Cf = x_future.shape
        seg = self.cfg.segment_len
        pad = self.n_segments_out * seg - Hz
        if pad:
            x_future = torch.cat([x_future, x_future.new_zeros(B, pad, Cf)], dim=1)
        return x_future.reshape(B, self.n_segments_out, seg * Cf)

    def _future_context(self, x_past: Tensor, x_future: Tensor) -> Tensor:
        """(B, Hz, Cf) -> (B, Hz, Cf * (2r + 1)): step t's covariates at t - r .. t + r, from
        the history of the known-future covariates (the last Cf columns of ``x_past``)
        before the horizon and zeros (the training mean) after it."""
        r, Cf = self.cfg.future_context, self.n_future
        B, Hz, _ = x_future.shape
        padded = torch.cat([x_past[:, -r:, -Cf:].to(x_future.dtype), x_future,
                            x_future.new_zeros(B, r, Cf)], dim=1)  # (B, Hz + 2r, Cf)
        # (B, Hz, Cf, 2r + 1), as padded.unfold(1, 2r + 1, 1) gives it, in shifted slices
        # (which an ONNX export takes at any batch size)
        windows = torch.stack([padded[:, k: k + Hz] for k in range(2 * r + 1)], dim=-1)
        return windows.reshape(B, Hz, Cf * (2 * r + 1))

    # -- forward ---------------------------------------------------------------------------
    def forward(self, y_past: Tensor, x_past: Tensor, x_future: Tensor,
                static: Tensor) -> Tensor:
        B, L, C = y_past.shape
        if self.n_targets != C:
            raise ValueError(f"y_past must have {self.n_targets} channels, got {C}")
        cfg = self.cfg
        seg, Hz = cfg.segment_len, cfg.horizon
        y, shift, scale = self._normalize(y_past)
        x_past = self._normalize_past_covariates(x_past)
        linear = (self.highway(y.transpose(1, 2)).transpose(1, 2)  # (B, Hz, C)
                  if self.highway is not None else None)
        if self.ci:
            y = y.permute(0, 2, 1).reshape(B * C, L, 1)  # (N, L, 1)
        # (without covariates, no zero-width concatenation: ONNX's Reshape, which an export
        # makes of it, reads a size of 0 as 'keep this size')
        x = torch.cat([y, self._per_sequence(x_past, B)], dim=-1) if x_past.shape[-1] \
            else y  # (N, L, ch_in + Cx)
        N = x.shape[0]
        W = L // seg
        segments = x.reshape(N, W, seg * x.shape[-1])  # (N, W, seg * (ch_in + Cx))
        emb = self.embed(segments)  # (N, W, d)
        static_emb = None
        if self.static_embed is not None:
            static_emb = self._per_sequence(self.static_embed(static), B)[:, None]  # (N, 1, d)
            emb = emb + static_emb
        _, (h, c) = self.encoder(emb)  # (layers, N, d_out), (layers, N, d)

        if cfg.future_context and self.n_future:
            x_future = self._future_context(x_past, x_future)
        if cfg.decoder == "pmf":
            out = self._decode_pmf(h, c, x_future, static_emb, B, N)
        elif cfg.decoder == "direct":
            out = self._decode_direct(h, x_future, B, N)
        else:
            out = self._decode_autoregressive(h, c, y, x_future, B, N)
        # (N, Hz, ch_in * Q) -> (B, Hz, C, Q)
        if self.ci:
            out = out.reshape(B, C, Hz, self.q).permute(0, 2, 1, 3)
        else:
            out = out.reshape(B, Hz, C, self.q)
        if linear is not None:
            out = out + linear[..., None]
        out = out * scale[..., None] + shift[..., None]
        if self.level is not None:
            out = out + (self.level[None, :, None] * shift)[..., None]  # (B, Hz, C, 1)
        return out if cfg.loss == "quantile" else out[..., 0]

    def _decode_direct(self, h: Tensor, x_future: Tensor, B: int, N: int) -> Tensor:
        Hz = self.cfg.horizon
        feats = self.dropout(h[-1])  # (N, d_out)
        out = self.head(feats).reshape(N, Hz, self.ch_in * self.q)
        if self.local is None:
            return out
        parts = [feats[:, None].expand(-1, Hz, -1),
                 self._per_sequence(x_future, B).to(feats.dtype)]  # (N, Hz, d_out), (N, Hz, Cf)
        if self.ci:
            channel = self.local_channel.repeat(B, 1).to(feats.dtype)  # (N, d/4)
            parts.append(channel[:, None].expand(-1, Hz, -1))
        return out + self.local(torch.cat(parts, dim=-1))  # (N, Hz, ch_in * Q)

    def _decode_pmf(self, h: Tensor, c: Tensor, x_future: Tensor, static_emb: Tensor | None,
                    B: int, N: int) -> Tensor:
        M, seg = self.n_segments_out, self.cfg.segment_len
        # (N, d - d/2); in channel-independent mode N runs over channels within each window
        channel = (self.channel_embed.repeat(B, 1) if self.ci
                   else self.channel_embed.expand(N, -1))
        dec_in = torch.cat([
            self.pos_embed[None].expand(N, -1, -1),  # (N, M, d/2)
            channel[:, None].expand(-1, M, -1),  # (N, M, d - d/2)
        ], dim=-1)  # (N, M, d)
        if self.future_embed is not None:
            dec_in = dec_in + self._per_sequence(
                self.future_embed(self._future_segments(x_future)), B)
        if static_emb is not None:
            dec_in = dec_in + static_emb
        # under mixed precision the encoder state comes back in the lower precision, which the
        # decoder's input then takes too
        dec_in = dec_in.reshape(N * M, 1, -1).to(h.dtype)  # (N*M, 1, d)
        hx = (h.repeat_interleave(M, dim=1), c.repeat_interleave(M, dim=1))  # (layers, N*M, .)
        step, _ = self.decoder_lstm(dec_in, hx)  # (N*M, 1, d_out)
        out = self.head(self.dropout(step[:, 0]))  # (N*M, seg * ch_in * Q)
        out = out.reshape(N, M * seg, -1)  # (N, M*seg, ch_in * Q)
        return out[:, : self.cfg.horizon]

    @property
    def decoder_lstm(self) -> LSTM:
        """The LSTM that decodes: the encoder itself for ``pmf`` (as in SegRNN)."""
        return self.encoder if self.cfg.decoder == "pmf" else self.decoder

    def _decode_autoregressive(self, h: Tensor, c: Tensor, y: Tensor, x_future: Tensor,
                               B: int, N: int) -> Tensor:
        seg, M = self.cfg.segment_len, self.n_segments_out
        prev = y[:, -seg:].reshape(N, seg * self.ch_in)  # last observed segment (normalised)
        future = self._per_sequence(self._future_segments(x_future), B) if self.n_future \
            else None  # (N, M, seg * Cf)
        state = (h, c)
        outs = []
        for m in range(M):
            inp = prev if future is None else torch.cat([prev, future[:, m]], dim=-1)
            step, state = self.decoder(self.dec_embed(inp)[:, None], state)
            seg_out = self.head(self.dropout(step[:, 0]))  # (N, seg * ch_in * Q)
            outs.append(seg_out)
            point = seg_out.reshape(N, seg, self.ch_in, self.q)[..., self.cfg.median_index]
            prev = point.reshape(N, seg * self.ch_in)
        out = torch.stack(outs, dim=1).reshape(N, M * seg, self.ch_in * self.q)
        return out[:, : self.cfg.horizon]


class ForecastEnsemble(nn.Module):
    """Several :class:`ForecastNet` of one configuration, forecasting with the mean of their
    outputs (for the quantile loss, each level averaged over the members)."""

    def __init__(self, members: list[ForecastNet]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, y_past: Tensor, x_past: Tensor, x_future: Tensor,
                static: Tensor) -> Tensor:
        return torch.stack([m(y_past, x_past, x_future, static)
                            for m in self.members]).mean(0)


def point_forecast(output: Tensor, cfg: ModelConfig) -> Tensor:
    """The point forecast (B, Hz, C): the output itself, or its median quantile."""
    return output if cfg.loss != "quantile" else output[..., cfg.median_index]
