"""SCALE-Sim's compute model, worked by hand (SCALE-Sim v2/3 systolic_compute_{os,ws,is}.py and the
SCALE-Sim paper, arXiv:1811.02883): (S_r, S_c, T) = os (M,N,K), ws (K,N,M), is (K,M,N); F_r = ⌈S_r/R⌉,
F_c = ⌈S_c/C⌉; τ = R + C + T − 2 (os), 2R + C + T − 2 (ws, is); cycles = F_r·F_c·τ − 1."""

import pytest

from accelsim.cost import folds as systolic


@pytest.mark.parametrize(
    "m, n, k, rows, cols, dataflow, expected",
    [
        # os, one full fold on 4x4: S=(4,4), T=4; τ = 4+4+4−2 = 10; 1·1·10 − 1 = 9
        (4, 4, 4, 4, 4, "os", 9),
        # os, partial edge folds: M=33 on 32 rows → F_r=2, N=17 on 16 cols → F_c=2, T=K=64;
        # τ = 32+16+64−2 = 110; 2·2·110 − 1 = 439
        (33, 17, 64, 32, 16, "os", 439),
        # ws: S_r=K=20 on 8 → F_r=3, S_c=N=10 on 8 → F_c=2, T=M=100; τ = 2·8+8+100−2 = 122; 3·2·122 − 1 = 731
        (100, 10, 20, 8, 8, "ws", 731),
        # ws, exact fit: K=N=128 on 128x128, M=3136 (56×56 output): τ = 256+128+3136−2 = 3518; 3518 − 1 = 3517
        (3136, 128, 128, 128, 128, "ws", 3517),
        # is: S_r=K=9 on 4 → F_r=3, S_c=M=30 on 16 → F_c=2, T=N=5; τ = 2·4+16+5−2 = 27; 3·2·27 − 1 = 161
        (30, 5, 9, 4, 16, "is", 161),
        # GEMM-form row M=N=K=1: one partial fold; os τ = 32+32+1−2 = 63 → 62; ws/is τ = 64+32+1−2 = 95 → 94
        (1, 1, 1, 32, 32, "os", 62),
        (1, 1, 1, 32, 32, "ws", 94),
        (1, 1, 1, 32, 32, "is", 94),
    ],
)
def test_scalesim_compute_cycles_by_hand(m, n, k, rows, cols, dataflow, expected):
    assert systolic.cycles(m, n, k, rows, cols, dataflow) == expected


def test_conv_layer_as_gemm_ws():
    # ResNet conv1 (7×7, stride 2, 3→64, 224×224 padded to 112×112 output) on SCALE-Sim's 128×128 WS:
    # M = 112·112 = 12544, N = 64, K = 7·7·3 = 147 → F_r = ⌈147/128⌉ = 2, F_c = 1,
    # τ = 2·128 + 128 + 12544 − 2 = 12926; cycles = 2·12926 − 1 = 25851
    assert systolic.cycles(12544, 64, 147, 128, 128, "ws") == 25851


def test_grouped_layers_run_in_sequence():
    # a depthwise 3×3 over 32 channels as SCALE-Sim runs it: 32 layers of K = 9, N = 1, M = 56·56 = 3136;
    # each: F_r = F_c = 1, ws τ = 2·16 + 16 + 3136 − 2 = 3182 → 3181; 32 of them = 101792
    assert systolic.cycles(3136, 1, 9, 16, 16, "ws", count=32) == 32 * 3181 == 101792


def test_folds_report_mapping_efficiency():
    # os 33×17 on 32×16: PE-slots used 33·17 = 561 of F_r·F_c·R·C = 2·2·32·16 = 2048
    f = systolic.folds(33, 17, 64, 32, 16, "os")
    assert (f.rows, f.cols, f.fold_cycles) == (2, 2, 110)
    assert f.mapping_efficiency == pytest.approx(561 / 2048)


def test_rejects_empty_gemm():
    with pytest.raises(ValueError, match="m=0"):
        systolic.folds(0, 4, 4, 4, 4, "os")


def test_preload_overlap_pipelines_folds():
    # ws GEMV (M = T = 1) of 256×256 on 128×128: F = 2·2 = 4 folds.
    # SCALE-Sim: τ = 2·128 + 128 + 1 − 2 = 383 → 4·383 − 1 = 1531
    # overlapped: the first preload (128), then folds start max(T=1, R=128) = 128 apart (each waits for the next
    # preload), and the last, with no next preload, streams T = 1 and skews and drains 128 + 128 − 2:
    # 128 + 3·128 + 1 + 254 − 1 = 766 (893 = 128 + 4·128 + 253 before probe p169 #1 charged the last fold 128)
    assert systolic.cycles(1, 256, 256, 128, 128, "ws") == 1531
    assert systolic.cycles(1, 256, 256, 128, 128, "ws", overlap=True) == 766
    # a long stream (T = 1000 ≥ R) hides every preload but the first: 128 + 3·1000 + 1000 + 254 − 1 = 4381
    assert systolic.cycles(1000, 256, 256, 128, 128, "ws", overlap=True) == 4381
    # os has no preload: (F − 1)·max(T, R) + T + R + C − 2 − 1 = 3·256 + 256 + 254 − 1 = 1277 for a 256×256×256 GEMM
    assert systolic.cycles(256, 256, 256, 128, 128, "os", overlap=True) == 1277
