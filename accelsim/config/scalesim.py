"""SCALE-Sim inputs: a config (``.cfg``) → :class:`~accelsim.hardware.Arch`; a topology (``.csv``) → ``ir.Graph``.

Read as SCALE-Sim v2/v3 read them (``scalesim/scale_config.py`` and ``scalesim/topology_utils.py`` of
scalesim-project/scale-sim-v2 and scale-sim-v3):

* Config: ``[architecture_presets]`` ArrayHeight, ArrayWidth, IfmapSramSzkB, FilterSramSzkB, OfmapSramSzkB
  (KiB: SCALE-Sim multiplies by 1024), Dataflow (os|ws|is), Bandwidth (words/cycle, a comma list per memory
  bank of which SCALE-Sim uses the first); ``[run_presets]`` InterfaceBandwidth CALC|USER. Offsets, request
  buffers, banks and layout keys are read by SCALE-Sim for its traces and its USER-mode channels and are ignored
  here (the USER note names the two bank bandwidths). ``[sparsity]
  SparsitySupport: true`` (with ``OptimizedMapping: false``, SCALE-Sim v3's layer-wise sparsity) gives the array
  ``structured_sparsity: [any]``: each row's ``N:M`` packs every K group of its filter matrix to its nonzeros
  (:func:`accelsim.ir.prune`); row-wise sparsity (``OptimizedMapping: true``, each filter column's N drawn
  at random) is refused. SparseRep only names the metadata format SCALE-Sim's SPARSE_REPORT sizes.
  SCALE-Sim has no clock: the arch runs at 1 GHz, so cycles are what SCALE-Sim reports. Its word is 1 byte
  (``word_size = 1`` in ``single_layer_sim.py``), so ops are int8, and so are the partial sums its ofmap SRAM
  holds (``accumulator_dtype: int8``). In CALC mode SCALE-Sim computes the DRAM bandwidth a layer needs instead
  of limiting it, so HBM bandwidth is unbounded; in USER mode it is one link of ``Bandwidth`` words (bytes) per
  cycle shared by all transfers, with a note (:func:`_user_bandwidth_note`): SCALE-Sim gives the ifmap, filter
  and ofmap streams a channel each, running at once (3.0: ``[layout]`` IfmapSRAMBankBandwidth,
  FilterSRAMBankBandwidth and ``Bandwidth``; v2: ``Bandwidth`` for all three), which accelsim does not model.
* Topology, conv form: ``Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels,
  Num Filter, Strides,`` (one stride for both axes, or stride height and width as v2 reads a 9th column, with a
  note: v3 has no stride-width column, :func:`_stride_width_notes`; an optional ``N:M`` sparsity
  column, 1 ≤ N ≤ M, which SCALE-Sim and accelsim ignore unless the config's SparsitySupport is true). No padding: the output is ⌈(H − F + S)/S⌉ per axis. A row whose name contains "DP"
  is depthwise: SCALE-Sim runs it as ``Channels`` layers of one channel each with the row's filter count, named
  ``<name>Channel_<i>`` (``topology_utils``), so it becomes that many ops of ``k = Fh·Fw``, named the same way.
* Topology, GEMM form: ``Layer, M, N, K,``; SCALE-Sim turns a row into a conv with an M×K ifmap, a 1×K
  filter, 1 channel, N filters and stride 1, which is exactly the GEMM (M, N, K).
* Both forms: SCALE-Sim cuts every row as ``row.split(',')[:-1]``, so a row that does not end with a comma loses
  its last value; accelsim drops it too, with a note, and refuses a row that then lacks a column SCALE-Sim needs
  (:func:`_kept_fields`).

Each row becomes one op named as in the CSV (a depthwise row: one per channel), in file order, reading its own
input tensor from memory (SCALE-Sim simulates layers independently, one after another).
"""

from __future__ import annotations

import configparser
import math
import os
import re
from pathlib import Path

from pydantic import ValidationError

from ..errors import ConfigError, ConfigIssue
from ..hardware import Arch
from ..ir import Gemm, Graph, Op, OpKind, Weight, prune
from ..units import MAX_INT, Sparsity
from .yamlio import display_path, read_text_file

CLOCK_HZ = 1e9  # SCALE-Sim counts cycles only; at 1 GHz one cycle is 1 ns
WORD_DTYPE = "int8"  # SCALE-Sim's word_size = 1 byte
HBM_CAPACITY = 2**40  # SCALE-Sim does not bound DRAM capacity; 1 TiB stands for "enough"

CONV_COLUMNS = ("Layer name", "IFMAP Height", "IFMAP Width", "Filter Height", "Filter Width", "Channels",
                "Num Filter", "Strides")
GEMM_COLUMNS = ("Layer", "M", "N", "K")


# ---- config ------------------------------------------------------------------------------------------------------
def _cfg_lines(text: str) -> dict[tuple[str, str], int]:
    """(section, option lower-cased) → 1-based line, and (section, "") → the section header's line."""
    lines: dict[tuple[str, str], int] = {}
    section = ""
    for n, raw in enumerate(text.splitlines(), 1):
        s = raw.strip()
        if not s or s[0] in "#;":
            continue
        m = re.match(r"^\[([^\]]+)\]", s)
        if m:
            section = m.group(1).strip()
            lines.setdefault((section, ""), n)
            continue
        m = re.match(r"^([^:=]+?)\s*[:=]", s)
        if m:
            lines.setdefault((section, m.group(1).strip().lower()), n)
    return lines


def _parse_cfg(text: str, file: str) -> configparser.ConfigParser:
    """``text`` parsed as an INI file; :class:`ConfigError` naming the line of a malformed one."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text, source=file)
    except configparser.MissingSectionHeaderError as e:
        raise ConfigError(ConfigIssue(file, e.lineno, "", "expected a [section] header first")) from None
    except configparser.ParsingError as e:
        errors = getattr(e, "errors", [])
        raise ConfigError([ConfigIssue(file, n, "", f"malformed line {line.strip()!r}") for n, line in errors]
                          or ConfigIssue(file, None, "", "malformed config")) from None
    except (configparser.DuplicateOptionError, configparser.DuplicateSectionError) as e:
        what = f"{e.section}.{e.option}" if isinstance(e, configparser.DuplicateOptionError) else e.section
        raise ConfigError(ConfigIssue(file, e.lineno, what, "written twice")) from None
    except configparser.Error as e:
        raise ConfigError(ConfigIssue(file, None, "", f"malformed config: {e.message}")) from None
    return parser


class _CfgReader:
    """The options of a parsed ``.cfg``, collecting an issue (file, line, key) for each missing or bad one."""

    def __init__(self, parser: configparser.ConfigParser, text: str, file: str) -> None:
        self.parser, self.file = parser, file
        self.lines = _cfg_lines(text)
        self.issues: list[ConfigIssue] = []
        self.notes: list[str] = []  # what the run's report says of a value read otherwise than SCALE-Sim reads it

    def where(self, section: str, option: str) -> int | None:
        return self.lines.get((section, option.lower())) or self.lines.get((section, ""))

    def get(self, section: str, *options: str) -> str | None:
        """The first of ``options`` present in ``section`` (SCALE-Sim v1 spelt the SRAM keys without kB)."""
        if self.parser.has_section(section):
            for option in options:
                if self.parser.has_option(section, option):
                    return self.parser.get(section, option).strip().strip('"').strip()
        self.issues.append(ConfigIssue(self.file, self.lines.get((section, "")), f"{section}.{options[0]}", "missing"))
        return None

    def positive(self, section: str, option: str, value: str | None) -> int | None:
        if value is None:
            return None
        number, problem = _positive_int(value)
        if problem is not None:
            self.issues.append(ConfigIssue(self.file, self.where(section, option), f"{section}.{option}", problem,
                                           value, True))
            return None
        return number

    def bad(self, section: str, option: str, message: str, value: object) -> None:
        self.issues.append(ConfigIssue(self.file, self.where(section, option), f"{section}.{option}", message,
                                       value, True))


_ARCH = "architecture_presets"


def _srams(cfg: _CfgReader) -> dict[str, int | None]:
    """The ifmap, filter and ofmap SRAM sizes in KiB."""
    srams = {}
    for part, label in (("ifmap", "Ifmap"), ("filter", "Filter"), ("ofmap", "Ofmap")):
        key = f"{label}SramSzkB"
        srams[part] = cfg.positive(_ARCH, key, cfg.get(_ARCH, key, f"{label}SramSz"))
        if srams[part] is not None and srams[part] * 1024 > MAX_INT:
            cfg.bad(_ARCH, key, f"size too large (the limit is {MAX_INT // 1024:,} KiB)", srams[part])
    return srams


SCALESIM_DATAFLOWS = ("os", "ws", "is")  # scale_config.valid_df_list, compared as written


def _dataflow(cfg: _CfgReader) -> str | None:
    """The array's dataflow, read in any case. SCALE-Sim compares the value as written with its lower-case list
    (``scale_config.read_conf_file``: ``if self.df not in self.valid_df_list: print("WARNING: Invalid
    dataflow")``) and goes on; ``single_layer_sim.set_params`` then matches none of os / ws / is and keeps the
    compute system its constructor made, output stationary. So ``OS`` runs the same there with a warning, and
    ``WS`` / ``IS`` run as os: a note says so (probe p123 #2)."""
    written = cfg.get(_ARCH, "Dataflow")
    if written is None:
        return None
    dataflow = written.lower()
    if dataflow not in SCALESIM_DATAFLOWS:
        cfg.bad(_ARCH, "Dataflow", "expected os, ws or is", dataflow)
    elif written != dataflow:
        ran = "runs it as os, its default, too" if dataflow == "os" else f"runs os, its default, not {dataflow}"
        line = cfg.where(_ARCH, "Dataflow")
        cfg.notes.append(f"{cfg.file}{f':{line}' if line else ''}: {_ARCH}.Dataflow {written!r}: read as "
                         f"{dataflow}; SCALE-Sim takes only lower case (os, ws, is): it prints \"WARNING: Invalid "
                         f"dataflow\" and {ran}; write {dataflow!r} for the same run in both")
    return dataflow


def _bandwidth(cfg: _CfgReader) -> tuple[str, float]:
    """The DRAM bandwidth mode (CALC or USER) and bytes/s (unbounded in CALC mode)."""
    mode = "CALC"
    if cfg.parser.has_option("run_presets", "InterfaceBandwidth"):
        mode = cfg.parser.get("run_presets", "InterfaceBandwidth").strip().upper()
        if mode not in ("CALC", "USER"):
            cfg.bad("run_presets", "InterfaceBandwidth", "expected CALC or USER", mode)
    bandwidth = math.inf
    if mode == "USER":
        text_bw = cfg.get(_ARCH, "Bandwidth")
        if text_bw is not None:
            first = text_bw.split(",")[0].strip()
            words = cfg.positive(_ARCH, "Bandwidth", first)
            if words is not None:
                bandwidth = words * 1 * CLOCK_HZ  # words/cycle × 1 byte/word × cycles/s
                cfg.notes.append(_user_bandwidth_note(cfg, words))
    return mode, bandwidth


def _user_bandwidth_note(cfg: _CfgReader, words: int) -> str:
    """The report note on USER mode (probe p217 #2): accelsim's DRAM is one link of ``Bandwidth`` shared by every
    transfer. SCALE-Sim gives the ifmap, filter and ofmap backing buffers a channel each, running at once
    (``single_layer_sim.run``: 3.0 ``ifmap_backing_bw = config.ifmap_sram_bank_bandwidth``,
    ``filter_backing_bw = config.filter_sram_bank_bandwidth``, ``ofmap_backing_bw = bws[0]``; v2 ``bws[0]`` for all
    three), streams its operand matrices' words (an im2col ifmap, each word as often as the folds read it), and
    reports the prefetch before cycle 0 apart from its Total Cycles. So the memory-bound cycles and stalls of a USER
    run are accelsim's, not SCALE-Sim's; the compute cycles are SCALE-Sim's."""
    layout = {key: cfg.parser.get("layout", key, fallback="").strip() or "not given"
              for key in ("IfmapSRAMBankBandwidth", "FilterSRAMBankBandwidth")}
    line = cfg.where("run_presets", "InterfaceBandwidth")
    return (f"{cfg.file}{f':{line}' if line else ''}: run_presets.InterfaceBandwidth USER: DRAM here is one link of "
            f"Bandwidth {words:,} byte(s) a cycle that the ifmap, filter and ofmap transfers of accelsim's tiling "
            f"share; SCALE-Sim gives each its own channel, running at once (3.0: ifmap at layout."
            f"IfmapSRAMBankBandwidth ({layout['IfmapSRAMBankBandwidth']}), filter at layout.FilterSRAMBankBandwidth "
            f"({layout['FilterSRAMBankBandwidth']}), ofmap at Bandwidth; v2: Bandwidth for all three), moves its "
            f"operand matrices' words and counts their prefetch apart from its Total Cycles, so this run's "
            f"memory-bound cycles and stalls are not SCALE-Sim's (its compute cycles are)")


def _sparsity(cfg: _CfgReader) -> list[str]:
    """The array's ``structured_sparsity``: ["any"] when ``[sparsity] SparsitySupport`` is true, else none."""
    section = "sparsity"
    if not cfg.parser.has_option(section, "SparsitySupport"):
        return []
    support = cfg.parser.get(section, "SparsitySupport").strip().lower()
    if support not in ("true", "false"):
        cfg.bad(section, "SparsitySupport", "expected true or false", support)
        return []
    if support == "false":
        return []
    mapping = cfg.parser.get(section, "OptimizedMapping", fallback="false").strip().lower()
    if mapping != "false":
        cfg.bad(section, "OptimizedMapping", "row-wise sparsity is not modelled (SCALE-Sim v3 draws each filter "
                                             "column's N at random); set it to false for layer-wise N:M", mapping)
    return ["any"]


def read_scalesim_config(path: str | os.PathLike) -> Arch:
    """The :class:`Arch` of a SCALE-Sim ``.cfg`` file: one core with the file's array, dataflow and split
    SRAM sizes, 1 GHz, int8, HBM unbounded (CALC) or ``Bandwidth`` bytes/cycle (USER), a vector unit as wide
    as the array. Raises :class:`ConfigError` listing every problem, each naming file, line and key."""
    return _read_config(path)[0]


def _read_config(path: str | os.PathLike) -> tuple[Arch, list[str]]:
    """:func:`read_scalesim_config`'s arch and the notes on values it reads otherwise than SCALE-Sim does."""
    file = display_path(path)
    text = read_text_file(path, file)
    parser = _parse_cfg(text, file)
    cfg = _CfgReader(parser, text, file)
    rows = cfg.positive(_ARCH, "ArrayHeight", cfg.get(_ARCH, "ArrayHeight"))
    cols = cfg.positive(_ARCH, "ArrayWidth", cfg.get(_ARCH, "ArrayWidth"))
    srams = _srams(cfg)
    dataflow = _dataflow(cfg)
    mode, bandwidth = _bandwidth(cfg)
    sparsity = _sparsity(cfg)
    if cfg.issues:
        raise ConfigError(cfg.issues)
    run_name = parser.get("general", "run_name", fallback="").strip().strip('"') or Path(path).stem
    try:
        arch = Arch.model_validate({
            "name": run_name,
            "description": f"SCALE-Sim config {file}: {rows}x{cols} {dataflow}, SRAM ifmap/filter/ofmap "
                           f"{srams['ifmap']}/{srams['filter']}/{srams['ofmap']} KiB, {mode} DRAM bandwidth, "
                           f"1 GHz (SCALE-Sim has no clock)",
            "clock": CLOCK_HZ,
            "dtype": WORD_DTYPE,
            "cores": 1,
            "core": {
                # SCALE-Sim's ofmap SRAM holds its partial sums in 1-byte words too
                "systolic": {"rows": rows, "cols": cols, "dataflow": dataflow, "structured_sparsity": sparsity,
                             "accumulator_dtype": WORD_DTYPE},
                "vector": {"lanes": cols},
                "sram": {k: v * 1024 for k, v in srams.items()} | {"double_buffered": True},
            },
            "hbm": {"capacity": HBM_CAPACITY, "bandwidth": bandwidth, "latency": 0.0, "kind": "SCALE-Sim DRAM"},
        })
    except ValidationError as e:  # the arch's own rules between keys (an SRAM too small for one array step)
        raise ConfigError([_cfg_issue(cfg, err) for err in e.errors()]) from None
    return arch, cfg.notes


_SRAM_OPTION = re.compile(r"core\.sram\.(ifmap|filter|ofmap): ")


def _cfg_issue(cfg: _CfgReader, err: dict) -> ConfigIssue:
    """An :class:`Arch` validation error as the ``.cfg`` file's problem: an SRAM buffer's rule at its
    ``*SramSzkB`` option's line (probe p100 #4: it named ``core.sram.ifmap``, a key the file does not have, with no
    line and pydantic's "Value error," prefix), anything else at the arch key it names."""
    msg = str(err["msg"]).removeprefix("Value error, ")
    m = _SRAM_OPTION.match(msg)
    if m is None:
        return ConfigIssue(cfg.file, None, ".".join(map(str, err["loc"])), msg)
    option = f"{m.group(1).capitalize()}SramSzkB"
    return ConfigIssue(cfg.file, cfg.where(_ARCH, option), f"{_ARCH}.{option}", msg[m.end():])


def _positive_int(text: str) -> tuple[int, str | None]:
    """``(number, None)`` for a positive whole number of at most :data:`~accelsim.units.MAX_INT` written in
    ``text``, else ``(0, what is wrong)``."""
    try:
        number = int(text)
    except ValueError:  # not a whole number (or more than 4,300 digits)
        return 0, "expected a positive integer"
    if number <= 0:
        return 0, "expected a positive integer"
    if number > MAX_INT:
        return 0, f"number too large (the limit is {MAX_INT:,}, 2**63 - 1)"
    return number, None


# ---- topology ----------------------------------------------------------------------------------------------------
def _fields(line: str) -> list[str]:
    """The comma-separated fields of a row, stripped, without trailing empty fields and '#' comments."""
    fields = [f.strip() for f in line.split(",")]
    while fields and (fields[-1] == "" or fields[-1].startswith("#")):
        fields.pop()
    return fields


def _kept_fields(line: str) -> tuple[list[str], str | None]:
    """Row ``line``'s fields as SCALE-Sim keeps them, and the value it drops (None: nothing). SCALE-Sim v2 and v3
    read every row as ``row.strip().split(',')[:-1]`` (``topology_utils.load_arrays_conv`` / ``load_arrays_gemm``),
    so the last field goes: the empty one after a row's trailing comma, or, where the row does not end with a comma,
    its last value (probe p217 #1). The fields kept are then :func:`_fields`' (stripped, trailing empty fields and
    '#' comments dropped); the value dropped is None when it is empty or a comment."""
    parts = line.strip().split(",")
    last = parts[-1].strip()
    return _fields(",".join(parts[:-1])), None if not last or last.startswith("#") else last


def _row_fields(file: str, n: int, raw: str, columns: tuple[str, ...], gemm: bool, issues: list[ConfigIssue],
                dropped: list[tuple[int, str, str, str]]) -> list[str]:
    """Row ``n``'s fields as SCALE-Sim keeps them (:func:`_kept_fields`); [] for a blank row, or, with an issue, for
    one SCALE-Sim cannot run once its last value is dropped (gemm's assert, conv's IndexError). A value dropped from
    a row that runs goes in ``dropped`` as (line, layer, column, value) for :func:`_dropped_notes` (the column it
    stands in: :func:`_dropped_column`); a row short of a column more than the one dropped keeps it, said as a
    missing column (:func:`_row_values`)."""
    if not _fields(raw):
        return []
    fields, last = _kept_fields(raw)
    if last is not None and len(fields) + 1 < len(columns):
        fields, last = [*fields, last], None
    if last is None:
        return fields
    column = _dropped_column(columns, gemm, fields, last)
    if len(fields) < len(columns):
        issues.append(ConfigIssue(file, n, column, "the row does not end with a comma, and SCALE-Sim reads a row as "
                                                   "row.split(',')[:-1], dropping its last field, so it cannot run "
                                                   "the row; end the row with a comma", last, True))
        return []
    dropped.append((n, fields[0], column, last))
    return fields


def _dropped_column(columns: tuple[str, ...], gemm: bool, kept: list[str], value: str) -> str:
    """The column a row's dropped last ``value`` (:func:`_kept_fields`) stands in, after the ``kept`` fields."""
    if len(kept) < len(columns):
        return columns[len(kept)]
    if ":" in value:
        return "Sparsity"
    return "Stride width" if not gemm and len(kept) == len(columns) else "extra column"


def _dropped_notes(file: str, dropped: list[tuple[int, str, str, str]]) -> list[str]:
    """The report note on rows whose last value SCALE-Sim drops and accelsim drops with it (``dropped``: line, layer,
    column, value), one per column; what it changes: a Sparsity column dropped runs the layer dense, a stride width
    runs Strides on both axes."""
    notes = []
    for column in dict.fromkeys(c for _, _, c, _ in dropped):
        rows = [(n, name, v) for n, name, c, v in dropped if c == column]
        n, name, value = rows[0]
        lines = [str(r[0]) for r in rows[1:]]
        more = f" (also on line{'s' if len(lines) > 1 else ''} {', '.join(lines[:5])}{', ...' if len(lines) > 5 else ''})" \
            if lines else ""
        effect = {"Sparsity": "the layer runs dense", "Stride width": "Strides is the stride on both axes"}.get(
            column, "the value is not read")
        notes.append(f"{file}:{n}: {name}: the row does not end with a comma{more}, and SCALE-Sim reads a row as "
                     f"row.split(',')[:-1], dropping its last field: its {column} {value!r} is dropped here too, "
                     f"as SCALE-Sim drops it ({effect}); end the row with a comma to have it read")
    return notes


def _row_values(file: str, n: int, fields: list[str], columns: tuple[str, ...], gemm: bool,
                issues: list[ConfigIssue]) -> tuple[list[int], int | None, Sparsity | None]:
    """The numbers of row ``n`` after its name, its stride width (None: the one stride column) and its sparsity
    (None: no column), adding to ``issues`` (which holds the row's name problems) each bad column, sparsity and
    extra column."""
    need = len(columns)
    extra = fields[need:]
    if len(fields) < need:
        issues.append(ConfigIssue(file, n, columns[len(fields)],
                                  f"missing: a row has {need} columns ({', '.join(columns)})"))
    values: list[int] = []
    for col, text_value in zip(columns[1:], fields[1:need], strict=False):
        v, problem = _positive_int(text_value)
        if problem is not None:
            issues.append(ConfigIssue(file, n, col, problem, text_value, True))
        values.append(v)
    stride_w = None
    if not gemm and extra and ":" not in extra[0]:
        stride_w, problem = _positive_int(extra[0])
        if problem is not None:
            issues.append(ConfigIssue(file, n, "Stride width", problem, extra[0], True))
        extra = extra[1:]
    sparsity = None
    if extra and ":" in extra[0]:
        try:
            sparsity = Sparsity.parse(extra[0])
        except ValueError as e:
            issues.append(ConfigIssue(file, n, "Sparsity", str(e), extra[0], True))
        extra = extra[1:]
    if extra:
        issues.append(ConfigIssue(file, n, "", f"unexpected extra columns {', '.join(extra)}"))
    if not issues and not gemm:
        h, w, fh, fw = values[:4]
        if fh > h:
            issues.append(ConfigIssue(file, n, "Filter Height", f"larger than IFMAP Height ({h})", fh, True))
        if fw > w:
            issues.append(ConfigIssue(file, n, "Filter Width", f"larger than IFMAP Width ({w})", fw, True))
    return values, stride_w, sparsity


def _stride_width_notes(file: str, lines: list[int]) -> list[str]:
    """The report note on rows with a 9th column read as the stride width, if any (``lines``; probe p169 #2).
    Such a row ends with a comma (without one, SCALE-Sim v2 and v3 drop the 9th column, and so does accelsim:
    :func:`_kept_fields`). SCALE-Sim v2's ``append_topo_arrays`` reads it as the stride width; SCALE-Sim 3.0's
    ``load_arrays_conv`` always copies Strides into the column stride (``elems[0:8] + [elems[7]] + elems[8:]``)
    and takes the column after as the N:M sparsity ratio, so a plain number there stops it (``IndexError`` at
    ``sparsity_ratio[1]``)."""
    if not lines:
        return []
    more = f" (also on line{'s' if len(lines) > 2 else ''} {', '.join(map(str, lines[1:6]))}{', ...' if len(lines) > 6 else ''})" \
        if len(lines) > 1 else ""
    return [f"{file}:{lines[0]}: a 9th column{more} is read as the stride width, as SCALE-Sim v2 reads it; "
            f"SCALE-Sim 3.0 has no stride-width column (it uses Strides for both axes and reads that column as the "
            f"N:M sparsity ratio: a plain number stops it with an IndexError); a layer with one stride on both "
            f"axes runs the same in both with the Strides column alone (a row that does not end with a comma loses "
            f"its 9th column in both versions and here)"]


def _layer_names(file: str, n: int, name: str, values: list[int], columns: tuple[str, ...], gemm: bool,
                 issues: list[ConfigIssue], first_line: dict[str, int]) -> list[str]:
    """The ops row ``n`` (named ``name``) becomes, each recorded in ``first_line``; a depthwise row's clash with an
    earlier name is added to ``issues``."""
    names = [name]
    if not gemm and not issues and "DP" in name:  # SCALE-Sim's own test (topology_utils.load_arrays_conv)
        names = [f"{name}Channel_{i}" for i in range(values[4])]
    for layer in names:
        if layer != name and layer in first_line:
            issues.append(ConfigIssue(file, n, columns[0], f"depthwise layer {layer!r} is also the name on line "
                                                           f"{first_line[layer]}", name, True))
            break
        if layer:
            first_line.setdefault(layer, n)
    return names


MAX_TOPOLOGY_ISSUES = 20  # problems listed for a topology; the rest are counted in one line


def _capped(file: str, issues: list[ConfigIssue]) -> list[ConfigIssue]:
    """``issues``, the first :data:`MAX_TOPOLOGY_ISSUES` of them and a line counting the others."""
    if len(issues) <= MAX_TOPOLOGY_ISSUES:
        return issues
    more = len(issues) - MAX_TOPOLOGY_ISSUES
    return [*issues[:MAX_TOPOLOGY_ISSUES], ConfigIssue(file, None, "", f"{more:,} more problems not shown")]


def _column_name(text: str) -> str:
    return " ".join(text.split()).lower()


def _header_problems(header: list[str], columns: tuple[str, ...]) -> list[tuple[str, int, str | None]]:
    """How the header line's names (``header``, as written) differ from the form's ``columns`` (case and spacing
    aside; for the conv form's last, SCALE-Sim's own ``Stride height``, as its ``write_topo_file`` writes it, too):
    ``(column, position in the header (1-based), None)`` for a column the header lacks, ``(column, position, the
    name it has there)`` for one it names otherwise. Names after the form's columns (a stride width, a sparsity
    column) are not checked."""
    names = [_column_name(h) for h in header]
    expected = [_column_name(c) for c in columns]
    alike = {"strides": {"strides", "stride height", "stride"}}

    def same(j: int, i: int) -> bool:
        return j < len(names) and names[j] in alike.get(expected[i], {expected[i]})

    out: list[tuple[str, int, str | None]] = []
    j = 0
    for i, column in enumerate(columns):
        if same(j, i):
            j += 1
        elif j >= len(names) or (i + 1 < len(columns) and same(j, i + 1)):  # left out: the next one is here
            out.append((column, j + 1, None))
        else:
            out.append((column, j + 1, header[j]))
            j += 1
    return out


def _header_note(file: str, problems: list[tuple[str, int, str | None]]) -> str:
    """The report note on a header that differs from the form's names over rows that parse (probe p123 #3)."""
    said = "; ".join(f"it lacks {c!r}" if got is None else f"its column {k} is {got!r}, not {c!r}"
                     for c, k, got in problems)
    return (f"{file}:1: the header is not SCALE-Sim's ({said}); its rows have every column and are read by "
            "position, as SCALE-Sim reads them (topology_utils skips the first line), so check that each row's "
            "values are in that order")


def _depthwise_note(file: str, n: int, name: str, values: list[int], stride_w: int | None) -> str:
    """The report note on a DP row with Num Filter > 1 (probe p123 #1): SCALE-Sim's ``load_arrays_conv`` makes it
    Channels layers of one channel, each keeping the row's Num Filter, so its MACs are Channels x Num Filter
    times a one-filter channel's; a depthwise conv has one filter a channel."""
    h, w, fh, fw, c, nf, sh = values
    one = output_size(h, fh, sh) * output_size(w, fw, stride_w or sh) * fh * fw  # one channel, one filter
    return (f"{file}:{n}: {name}: a DP (depthwise) row runs as SCALE-Sim runs it, each of its {c:,} channels with "
            f"the row's Num Filter {nf:,} filters ({c:,} x {nf:,} = {c * nf:,} filters, {one * c * nf:,} MACs); a "
            f"depthwise conv has one filter a channel: write Num Filter 1 for it ({one * c:,} MACs)")


def _shown_header(line: str, limit: int = 80) -> str:
    text = ", ".join(_fields(line))
    return text if len(text) <= limit else text[:limit - 1] + "…"


def read_topology(path: str | os.PathLike, *, gemm: bool | None = None, dtype: str = WORD_DTYPE,
                  sparsity: bool = False) -> Graph:
    """The ``ir.Graph`` of a SCALE-Sim topology CSV: one op per row, named as in the file, in file order.

    ``gemm`` picks the form (SCALE-Sim's ``-i gemm``); None detects it from the header (``Layer, M, N, K``).
    ``sparsity`` (the config's SparsitySupport): each row's N:M column prunes its op's weights
    (:func:`accelsim.ir.prune`); without it the column is read and ignored, as SCALE-Sim does.
    Raises :class:`ConfigError` listing every bad row, each naming file, line and column.
    """
    file = display_path(path)
    text = read_text_file(path, file, encoding="utf-8-sig")
    rows = text.splitlines()
    if not rows:
        raise ConfigError(ConfigIssue(file, None, "", "empty topology: expected a header line and layer rows"))
    header = [h.lower() for h in _fields(rows[0])]
    if gemm is None:
        gemm = header[1:4] == ["m", "n", "k"]
    columns = GEMM_COLUMNS if gemm else CONV_COLUMNS
    issues: list[ConfigIssue] = []
    notes: list[str] = []
    ops: list[Op] = []
    inputs: dict[str, tuple[int, ...]] = {}
    first_line: dict[str, int] = {}
    stride_widths: list[tuple[int, int | None]] = []  # (line, the 9th column read as the stride width, or None)
    dropped: list[tuple[int, str, str, str]] = []  # (line, layer, column, value) of a last value SCALE-Sim drops
    for n, raw in enumerate(rows[1:], 2):  # SCALE-Sim skips the first line (the header)
        fields = _row_fields(file, n, raw, columns, gemm, issues, dropped)
        if not fields:  # a blank row, or one SCALE-Sim cannot run (its issue said)
            continue
        row_issues: list[ConfigIssue] = []
        name = fields[0]
        if not name:
            row_issues.append(ConfigIssue(file, n, columns[0], "empty layer name"))
        elif name in first_line:
            row_issues.append(ConfigIssue(file, n, columns[0], f"layer name used twice (first on line "
                                                               f"{first_line[name]})", name, True))
        values, stride_w, pattern = _row_values(file, n, fields, columns, gemm, row_issues)
        names = _layer_names(file, n, name, values, columns, gemm, row_issues, first_line)
        if row_issues:
            issues.extend(row_issues)
            continue
        if names != [name] and values[5] > 1:
            notes.append(_depthwise_note(file, n, name, values, stride_w))
        stride_widths.append((n, stride_w))
        for layer in names:
            src = f"{layer}/ifmap"
            if gemm:
                op, in_shape = _gemm_op(layer, src, *values, dtype, n)
            else:
                op, in_shape = _conv_op(layer, src, *values, stride_w or values[-1], dtype, n,
                                        depthwise=layer != name)
            inputs[src] = in_shape
            ops.append(prune(op, pattern) if sparsity and pattern is not None and not pattern.dense else op)
    if issues and not (header and header[0].startswith("layer")):
        # rows that do not parse under a header that is no topology's ("Layer name, ..." / "Layer, M, N, K"):
        # another CSV, said once (it was a line per cell). SCALE-Sim skips the header: rows that parse are run
        raise ConfigError(ConfigIssue(file, 1, "", f"not a SCALE-Sim topology: its header is "
                                                   f"{_shown_header(rows[0])!r} (expected {', '.join(CONV_COLUMNS)} "
                                                   f"or {', '.join(GEMM_COLUMNS)})"))
    # SCALE-Sim never reads the header; a name that differs from the form's is said at line 1: before the rows'
    # errors it explains (a header without Num Filter over rows without it: probe p123 #3 blamed Strides), or as a
    # note over rows that parse, which are read by position as SCALE-Sim reads them (refusing them would refuse
    # a topology SCALE-Sim runs)
    header_problems = _header_problems(_fields(rows[0]), columns)
    if issues:
        order = f"(a row's columns, by position: {', '.join(columns)})"
        said = [ConfigIssue(file, 1, c, f"missing from the header {order}" if got is None else
                            f"the header's column {k} is {got!r} {order}") for c, k, got in header_problems]
        raise ConfigError(_capped(file, [*said, *issues]))
    if not ops:
        raise ConfigError(ConfigIssue(file, None, "", "no layer rows after the header"))
    if header_problems:
        notes.insert(0, _header_note(file, header_problems))
    notes.extend(_stride_width_notes(file, [n for n, w in stride_widths if w is not None]))
    notes.extend(_dropped_notes(file, dropped))
    # SCALE-Sim runs the layers one after another (each its own simulation): "sequential" makes every op wait for
    # the one before (mapping.emit.Emitter), though no layer reads another's output
    return Graph(Path(path).stem, ops, inputs, meta={"source": "scalesim", "topology": file,
                                                      "form": "gemm" if gemm else "conv", "sequential": True,
                                                      **({"notes": notes} if notes else {})})


def output_size(size: int, kernel: int, stride: int) -> int:
    """SCALE-Sim's output size along one axis, no padding: ⌈(size − kernel + stride) / stride⌉."""
    return -(-(size - kernel + stride) // stride)


def _conv_op(name: str, src: str, h: int, w: int, fh: int, fw: int, c: int, nf: int, sh: int, sw: int,
             dtype: str, line: int, depthwise: bool = False) -> tuple[Op, tuple[int, ...]]:
    """One conv layer; ``depthwise``: one channel of a depthwise row (one input channel, ``nf`` filters)."""
    eh, ew = output_size(h, fh, sh), output_size(w, fw, sw)
    if depthwise:
        c = 1
    gemm = Gemm(m=eh * ew, n=nf, k=fh * fw * c, count=1)
    weight = Weight(f"{name}.weight", (nf, c, fh, fw))
    out = (1, nf, eh, ew)
    attrs = {"kernel": (fh, fw), "stride": (sh, sw), "padding": (0, 0), "groups": 1, "depthwise": depthwise,
             "source_line": line}
    in_shape = (1, c, h, w)
    op = Op(name=name, kind=OpKind.CONV, inputs=(src,), in_shapes=(in_shape,), out_shape=out, dtype=dtype,
            weights=(weight,), macs=gemm.macs, flops=2 * gemm.macs, gemm=gemm, attrs=attrs)
    return op, in_shape


def _gemm_op(name: str, src: str, m: int, n: int, k: int, dtype: str, line: int) -> tuple[Op, tuple[int, ...]]:
    gemm = Gemm(m=m, n=n, k=k, count=1)
    in_shape = (m, k)
    op = Op(name=name, kind=OpKind.LINEAR, inputs=(src,), in_shapes=(in_shape,), out_shape=(m, n), dtype=dtype,
            weights=(Weight(f"{name}.weight", (n, k)),), macs=gemm.macs, flops=2 * gemm.macs, gemm=gemm,
            attrs={"source_line": line})
    return op, in_shape


def load_scalesim(config: str | os.PathLike, topology: str | os.PathLike, *,
                  gemm: bool | None = None) -> tuple[Arch, Graph]:
    """``(Arch, Graph)`` of a SCALE-Sim config and topology, as ``accelsim run --scalesim-config --topology``
    runs them. Problems in both files are reported together."""
    issues: list[ConfigIssue] = []
    arch = graph = None
    notes: list[str] = []
    try:
        arch, notes = _read_config(config)
    except ConfigError as e:
        issues.extend(e.issues)
    try:
        graph = read_topology(topology, gemm=gemm,
                              sparsity=arch is not None and bool(arch.core.systolic.structured_sparsity))
    except ConfigError as e:
        issues.extend(e.issues)
    if issues:
        raise ConfigError(issues)
    if notes:  # the config's, first: the run's report.json notes and console (graph.meta["notes"])
        graph = graph.with_meta({**graph.meta, "notes": [*notes, *graph.meta.get("notes", ())]})  # type: ignore[union-attr]
    return arch, graph  # type: ignore[return-value]
