;; The fast CPU engine's arithmetic: WebAssembly with 128-bit SIMD (f32x4), written by hand.
;; scripts/build-wasm.mjs compiles this file with wabt into kernels.generated.ts (base64), so
;; neither the tests nor the bundle need a .wasm file or wabt at run time.
;;
;; Every pointer and stride is in BYTES. Matrices are row-major. The memory is imported and
;; shared so that worker threads run these same functions on the same tensors (each on its own
;; part of the batch) without copying.
(module
  (import "env" "mem" (memory 1 65536 shared))

  ;; C[M,N] = A·B (acc=0) or C += A·B (acc=1).
  ;; A's element (i,k) is at a + i*sai + k*sak: A is only read one scalar at a time (broadcast to
  ;; the four lanes), so any strides work and a transposed A costs nothing. B's row k starts at
  ;; b + k*ldb and is read four columns at a time, so B's rows must be contiguous.
  ;; The core is a 4x8 block of C held in eight f32x4 accumulators for the whole k loop; leftover
  ;; rows take a 1x8 kernel and leftover columns (N mod 8) a scalar one.
  (func $gemm (export "gemm")
    (param $a i32) (param $sai i32) (param $sak i32) (param $b i32) (param $ldb i32)
    (param $c i32) (param $ldc i32) (param $M i32) (param $N i32) (param $K i32) (param $acc i32)
    (local $i i32) (local $j i32) (local $k i32) (local $pa i32) (local $pb i32) (local $pc i32)
    (local $M4 i32) (local $N8 i32) (local $sai2 i32) (local $sai3 i32)
    (local $x v128) (local $b0 v128) (local $b1 v128)
    (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128)
    (local $c20 v128) (local $c21 v128) (local $c30 v128) (local $c31 v128)
    (local.set $M4 (i32.and (local.get $M) (i32.const -4)))
    (local.set $N8 (i32.and (local.get $N) (i32.const -8)))
    (local.set $sai2 (i32.shl (local.get $sai) (i32.const 1)))
    (local.set $sai3 (i32.add (local.get $sai2) (local.get $sai)))

    ;; 4x8 blocks
    (local.set $i (i32.const 0))
    (block $rows_done
      (loop $rows
        (br_if $rows_done (i32.ge_s (local.get $i) (local.get $M4)))
        (local.set $j (i32.const 0))
        (block $cols_done
          (loop $cols
            (br_if $cols_done (i32.ge_s (local.get $j) (local.get $N8)))
            (local.set $c00 (v128.const i32x4 0 0 0 0)) (local.set $c01 (v128.const i32x4 0 0 0 0))
            (local.set $c10 (v128.const i32x4 0 0 0 0)) (local.set $c11 (v128.const i32x4 0 0 0 0))
            (local.set $c20 (v128.const i32x4 0 0 0 0)) (local.set $c21 (v128.const i32x4 0 0 0 0))
            (local.set $c30 (v128.const i32x4 0 0 0 0)) (local.set $c31 (v128.const i32x4 0 0 0 0))
            (local.set $pa (i32.add (local.get $a) (i32.mul (local.get $i) (local.get $sai))))
            (local.set $pb (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 2))))
            (local.set $k (local.get $K))
            (block $k_done
              (loop $kl
                (br_if $k_done (i32.le_s (local.get $k) (i32.const 0)))
                (local.set $b0 (v128.load (local.get $pb)))
                (local.set $b1 (v128.load offset=16 (local.get $pb)))
                (local.set $x (f32x4.splat (f32.load (local.get $pa))))
                (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $x) (local.get $b0))))
                (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $x) (local.get $b1))))
                (local.set $x (f32x4.splat (f32.load (i32.add (local.get $pa) (local.get $sai)))))
                (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $x) (local.get $b0))))
                (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $x) (local.get $b1))))
                (local.set $x (f32x4.splat (f32.load (i32.add (local.get $pa) (local.get $sai2)))))
                (local.set $c20 (f32x4.add (local.get $c20) (f32x4.mul (local.get $x) (local.get $b0))))
                (local.set $c21 (f32x4.add (local.get $c21) (f32x4.mul (local.get $x) (local.get $b1))))
                (local.set $x (f32x4.splat (f32.load (i32.add (local.get $pa) (local.get $sai3)))))
                (local.set $c30 (f32x4.add (local.get $c30) (f32x4.mul (local.get $x) (local.get $b0))))
                (local.set $c31 (f32x4.add (local.get $c31) (f32x4.mul (local.get $x) (local.get $b1))))
                (local.set $pa (i32.add (local.get $pa) (local.get $sak)))
                (local.set $pb (i32.add (local.get $pb) (local.get $ldb)))
                (local.set $k (i32.sub (local.get $k) (i32.const 1)))
                (br $kl)))
            (local.set $pc (i32.add (i32.add (local.get $c) (i32.mul (local.get $i) (local.get $ldc)))
                                    (i32.shl (local.get $j) (i32.const 2))))
            (if (local.get $acc)
              (then
                (local.set $c00 (f32x4.add (local.get $c00) (v128.load (local.get $pc))))
                (local.set $c01 (f32x4.add (local.get $c01) (v128.load offset=16 (local.get $pc))))))
            (v128.store (local.get $pc) (local.get $c00))
            (v128.store offset=16 (local.get $pc) (local.get $c01))
            (local.set $pc (i32.add (local.get $pc) (local.get $ldc)))
            (if (local.get $acc)
              (then
                (local.set $c10 (f32x4.add (local.get $c10) (v128.load (local.get $pc))))
                (local.set $c11 (f32x4.add (local.get $c11) (v128.load offset=16 (local.get $pc))))))
            (v128.store (local.get $pc) (local.get $c10))
            (v128.store offset=16 (local.get $pc) (local.get $c11))
            (local.set $pc (i32.add (local.get $pc) (local.get $ldc)))
            (if (local.get $acc)
              (then
                (local.set $c20 (f32x4.add (local.get $c20) (v128.load (local.get $pc))))
                (local.set $c21 (f32x4.add (local.get $c21) (v128.load offset=16 (local.get $pc))))))
            (v128.store (local.get $pc) (local.get $c20))
            (v128.store offset=16 (local.get $pc) (local.get $c21))
            (local.set $pc (i32.add (local.get $pc) (local.get $ldc)))
            (if (local.get $acc)
              (then
                (local.set $c30 (f32x4.add (local.get $c30) (v128.load (local.get $pc))))
                (local.set $c31 (f32x4.add (local.get $c31) (v128.load offset=16 (local.get $pc))))))
            (v128.store (local.get $pc) (local.get $c30))
            (v128.store offset=16 (local.get $pc) (local.get $c31))
            (local.set $j (i32.add (local.get $j) (i32.const 8)))
            (br $cols)))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $rows)))

    ;; leftover rows, eight columns at a time
    (local.set $i (local.get $M4))
    (block $rrows_done
      (loop $rrows
        (br_if $rrows_done (i32.ge_s (local.get $i) (local.get $M)))
        (local.set $j (i32.const 0))
        (block $rcols_done
          (loop $rcols
            (br_if $rcols_done (i32.ge_s (local.get $j) (local.get $N8)))
            (local.set $c00 (v128.const i32x4 0 0 0 0)) (local.set $c01 (v128.const i32x4 0 0 0 0))
            (local.set $pa (i32.add (local.get $a) (i32.mul (local.get $i) (local.get $sai))))
            (local.set $pb (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 2))))
            (local.set $k (local.get $K))
            (block $rk_done
              (loop $rk
                (br_if $rk_done (i32.le_s (local.get $k) (i32.const 0)))
                (local.set $x (f32x4.splat (f32.load (local.get $pa))))
                (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $x) (v128.load (local.get $pb)))))
                (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $x) (v128.load offset=16 (local.get $pb)))))
                (local.set $pa (i32.add (local.get $pa) (local.get $sak)))
                (local.set $pb (i32.add (local.get $pb) (local.get $ldb)))
                (local.set $k (i32.sub (local.get $k) (i32.const 1)))
                (br $rk)))
            (local.set $pc (i32.add (i32.add (local.get $c) (i32.mul (local.get $i) (local.get $ldc)))
                                    (i32.shl (local.get $j) (i32.const 2))))
            (if (local.get $acc)
              (then
                (local.set $c00 (f32x4.add (local.get $c00) (v128.load (local.get $pc))))
                (local.set $c01 (f32x4.add (local.get $c01) (v128.load offset=16 (local.get $pc))))))
            (v128.store (local.get $pc) (local.get $c00))
            (v128.store offset=16 (local.get $pc) (local.get $c01))
            (local.set $j (i32.add (local.get $j) (i32.const 8)))
            (br $rcols)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rrows)))

    ;; leftover columns, every row, scalar
    (if (i32.lt_s (local.get $N8) (local.get $N))
      (then
        (call $gemm_scalar (local.get $a) (local.get $sai) (local.get $sak) (local.get $b) (local.get $ldb)
          (local.get $c) (local.get $ldc) (local.get $M) (local.get $N8) (local.get $N) (local.get $K) (local.get $acc)))))

  ;; Columns [j0,j1) of every row of C, one element at a time.
  (func $gemm_scalar
    (param $a i32) (param $sai i32) (param $sak i32) (param $b i32) (param $ldb i32)
    (param $c i32) (param $ldc i32) (param $M i32) (param $j0 i32) (param $j1 i32) (param $K i32) (param $acc i32)
    (local $i i32) (local $j i32) (local $k i32) (local $pa i32) (local $pb i32) (local $pc i32) (local $s f32)
    (local.set $i (i32.const 0))
    (block $id
      (loop $il
        (br_if $id (i32.ge_s (local.get $i) (local.get $M)))
        (local.set $j (local.get $j0))
        (block $jd
          (loop $jl
            (br_if $jd (i32.ge_s (local.get $j) (local.get $j1)))
            (local.set $s (f32.const 0))
            (local.set $pa (i32.add (local.get $a) (i32.mul (local.get $i) (local.get $sai))))
            (local.set $pb (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 2))))
            (local.set $k (local.get $K))
            (block $kd
              (loop $kl
                (br_if $kd (i32.le_s (local.get $k) (i32.const 0)))
                (local.set $s (f32.add (local.get $s) (f32.mul (f32.load (local.get $pa)) (f32.load (local.get $pb)))))
                (local.set $pa (i32.add (local.get $pa) (local.get $sak)))
                (local.set $pb (i32.add (local.get $pb) (local.get $ldb)))
                (local.set $k (i32.sub (local.get $k) (i32.const 1)))
                (br $kl)))
            (local.set $pc (i32.add (i32.add (local.get $c) (i32.mul (local.get $i) (local.get $ldc)))
                                    (i32.shl (local.get $j) (i32.const 2))))
            (if (local.get $acc)
              (then (local.set $s (f32.add (local.get $s) (f32.load (local.get $pc))))))
            (f32.store (local.get $pc) (local.get $s))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $jl)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $il))))

  ;; exp(y) for y in [-40, 0]: y = n·ln2 + r with |r| <= ln2/2 (ln2 split in two so that n·ln2
  ;; is exact), exp(r) by its Taylor series to r^6 (relative error < 2e-7 there), times 2^n
  ;; built directly in the exponent bits.
  (func $exp_neg (param $y v128) (result v128)
    (local $n v128) (local $r v128) (local $p v128)
    (local.set $y (f32x4.max (local.get $y) (v128.const f32x4 -40 -40 -40 -40)))
    (local.set $n (f32x4.nearest (f32x4.mul (local.get $y) (v128.const f32x4 1.4426950408889634 1.4426950408889634 1.4426950408889634 1.4426950408889634))))
    (local.set $r (f32x4.sub (local.get $y) (f32x4.mul (local.get $n) (v128.const f32x4 0.693145751953125 0.693145751953125 0.693145751953125 0.693145751953125))))
    (local.set $r (f32x4.sub (local.get $r) (f32x4.mul (local.get $n) (v128.const f32x4 1.428606765330187e-6 1.428606765330187e-6 1.428606765330187e-6 1.428606765330187e-6))))
    (local.set $p (v128.const f32x4 0.001388888888888889 0.001388888888888889 0.001388888888888889 0.001388888888888889))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 0.008333333333333333 0.008333333333333333 0.008333333333333333 0.008333333333333333)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 0.041666666666666664 0.041666666666666664 0.041666666666666664 0.041666666666666664)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 0.16666666666666666 0.16666666666666666 0.16666666666666666 0.16666666666666666)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 0.5 0.5 0.5 0.5)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 1 1 1 1)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 1 1 1 1)))
    (f32x4.mul (local.get $p)
      (i32x4.shl (i32x4.add (i32x4.trunc_sat_f32x4_s (local.get $n)) (v128.const i32x4 127 127 127 127)) (i32.const 23))))

  ;; tanh(x) = sign(x)·(1 - e)/(1 + e) with e = exp(-2|x|); below |x| = 0.1, where 1 - e would
  ;; cancel, its odd series x - x³/3 + 2x⁵/15 instead. Absolute error about 1e-7.
  (func $tanh4 (param $x v128) (result v128)
    (local $ax v128) (local $e v128) (local $t v128) (local $x2 v128) (local $s v128)
    (local.set $ax (f32x4.abs (local.get $x)))
    (local.set $e (call $exp_neg (f32x4.mul (local.get $ax) (v128.const f32x4 -2 -2 -2 -2))))
    (local.set $t (f32x4.div (f32x4.sub (v128.const f32x4 1 1 1 1) (local.get $e))
                             (f32x4.add (v128.const f32x4 1 1 1 1) (local.get $e))))
    (local.set $x2 (f32x4.mul (local.get $ax) (local.get $ax)))
    (local.set $s (f32x4.add (f32x4.mul (local.get $x2) (v128.const f32x4 0.13333333333333333 0.13333333333333333 0.13333333333333333 0.13333333333333333))
                             (v128.const f32x4 -0.3333333333333333 -0.3333333333333333 -0.3333333333333333 -0.3333333333333333)))
    (local.set $s (f32x4.add (local.get $ax) (f32x4.mul (local.get $ax) (f32x4.mul (local.get $x2) (local.get $s)))))
    (local.set $t (v128.bitselect (local.get $s) (local.get $t)
                    (f32x4.lt (local.get $ax) (v128.const f32x4 0.1 0.1 0.1 0.1))))
    ;; the sign bit from x, the rest from |tanh|
    (v128.bitselect (local.get $x) (local.get $t) (v128.const i32x4 0x80000000 0x80000000 0x80000000 0x80000000)))

  ;; y = tanh(y) in place over n floats: $tanh4 and $exp_neg written out inline (same formulas).
  (func $tanh_block (param $p i32) (param $n i32)
    (local $end4 i32) (local $end i32) (local $x v128) (local $ax v128) (local $y v128) (local $k v128) (local $r v128)
    (local $e v128) (local $t v128) (local $x2 v128) (local $s v128) (local $q v128)
    (local.set $end (i32.add (local.get $p) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $end4 (i32.add (local.get $p) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $d (loop $l
      (br_if $d (i32.ge_u (local.get $p) (local.get $end4)))
      (local.set $x (v128.load (local.get $p)))
      (local.set $ax (f32x4.abs (local.get $x)))
      ;; e = exp(-2|x|)
      (local.set $y (f32x4.max (f32x4.mul (local.get $ax) (v128.const f32x4 -2 -2 -2 -2)) (v128.const f32x4 -40 -40 -40 -40)))
      (local.set $k (f32x4.nearest (f32x4.mul (local.get $y) (v128.const f32x4 1.4426950408889634 1.4426950408889634 1.4426950408889634 1.4426950408889634))))
      (local.set $r (f32x4.sub (local.get $y) (f32x4.mul (local.get $k) (v128.const f32x4 0.693145751953125 0.693145751953125 0.693145751953125 0.693145751953125))))
      (local.set $r (f32x4.sub (local.get $r) (f32x4.mul (local.get $k) (v128.const f32x4 1.428606765330187e-6 1.428606765330187e-6 1.428606765330187e-6 1.428606765330187e-6))))
      (local.set $q (v128.const f32x4 0.001388888888888889 0.001388888888888889 0.001388888888888889 0.001388888888888889))
      (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $r)) (v128.const f32x4 0.008333333333333333 0.008333333333333333 0.008333333333333333 0.008333333333333333)))
      (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $r)) (v128.const f32x4 0.041666666666666664 0.041666666666666664 0.041666666666666664 0.041666666666666664)))
      (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $r)) (v128.const f32x4 0.16666666666666666 0.16666666666666666 0.16666666666666666 0.16666666666666666)))
      (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $r)) (v128.const f32x4 0.5 0.5 0.5 0.5)))
      (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $r)) (v128.const f32x4 1 1 1 1)))
      (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $r)) (v128.const f32x4 1 1 1 1)))
      (local.set $e (f32x4.mul (local.get $q)
        (i32x4.shl (i32x4.add (i32x4.trunc_sat_f32x4_s (local.get $k)) (v128.const i32x4 127 127 127 127)) (i32.const 23))))
      (local.set $t (f32x4.div (f32x4.sub (v128.const f32x4 1 1 1 1) (local.get $e))
                               (f32x4.add (v128.const f32x4 1 1 1 1) (local.get $e))))
      (local.set $x2 (f32x4.mul (local.get $ax) (local.get $ax)))
      (local.set $s (f32x4.add (f32x4.mul (local.get $x2) (v128.const f32x4 0.13333333333333333 0.13333333333333333 0.13333333333333333 0.13333333333333333))
                               (v128.const f32x4 -0.3333333333333333 -0.3333333333333333 -0.3333333333333333 -0.3333333333333333)))
      (local.set $s (f32x4.add (local.get $ax) (f32x4.mul (local.get $ax) (f32x4.mul (local.get $x2) (local.get $s)))))
      (local.set $t (v128.bitselect (local.get $s) (local.get $t)
                      (f32x4.lt (local.get $ax) (v128.const f32x4 0.1 0.1 0.1 0.1))))
      (v128.store (local.get $p)
        (v128.bitselect (local.get $x) (local.get $t) (v128.const i32x4 0x80000000 0x80000000 0x80000000 0x80000000)))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (br $l)))
    (block $d2 (loop $l2
      (br_if $d2 (i32.ge_u (local.get $p) (local.get $end)))
      (f32.store (local.get $p) (f32x4.extract_lane 0 (call $tanh4 (v128.load32_splat (local.get $p)))))
      (local.set $p (i32.add (local.get $p) (i32.const 4)))
      (br $l2))))

  (func $act4 (param $v v128) (param $act i32) (result v128)
    (if (result v128) (i32.eq (local.get $act) (i32.const 1))
      (then (call $tanh4 (local.get $v)))
      (else
        (if (result v128) (i32.eq (local.get $act) (i32.const 2))
          (then (f32x4.pmax (v128.const f32x4 0 0 0 0) (local.get $v)))
          (else (local.get $v))))))

  ;; In place on y [M,N]: y = act(y + bias), bias indexed by row (perRow=1, conv: [O, P*Q]) or by
  ;; column (perRow=0, dense: [N, O]). act: 0 none, 1 tanh, 2 relu.
  (func (export "bias_act") (param $y i32) (param $M i32) (param $N i32) (param $bias i32) (param $perRow i32) (param $act i32)
    (local $i i32) (local $j i32) (local $p i32) (local $bv v128) (local $N4 i32) (local $first i32)
    ;; tanh goes in a second pass over the (cache-warm) block: V8 does not inline wasm calls, and
    ;; a call per vector costs as much as the tanh itself
    (local.set $first (select (i32.const 0) (local.get $act) (i32.eq (local.get $act) (i32.const 1))))
    (local.set $N4 (i32.and (local.get $N) (i32.const -4)))
    (local.set $p (local.get $y))
    (local.set $i (i32.const 0))
    (block $id
      (loop $il
        (br_if $id (i32.ge_s (local.get $i) (local.get $M)))
        (if (local.get $perRow)
          (then (local.set $bv (v128.load32_splat (i32.add (local.get $bias) (i32.shl (local.get $i) (i32.const 2)))))))
        (local.set $j (i32.const 0))
        (block $jd
          (loop $jl
            (br_if $jd (i32.ge_s (local.get $j) (local.get $N4)))
            (if (i32.eqz (local.get $perRow))
              (then (local.set $bv (v128.load (i32.add (local.get $bias) (i32.shl (local.get $j) (i32.const 2)))))))
            (v128.store (local.get $p) (call $act4 (f32x4.add (v128.load (local.get $p)) (local.get $bv)) (local.get $first)))
            (local.set $p (i32.add (local.get $p) (i32.const 16)))
            (local.set $j (i32.add (local.get $j) (i32.const 4)))
            (br $jl)))
        (block $td
          (loop $tl
            (br_if $td (i32.ge_s (local.get $j) (local.get $N)))
            (if (i32.eqz (local.get $perRow))
              (then (local.set $bv (v128.load32_splat (i32.add (local.get $bias) (i32.shl (local.get $j) (i32.const 2)))))))
            (f32.store (local.get $p)
              (f32x4.extract_lane 0 (call $act4 (f32x4.add (v128.load32_splat (local.get $p)) (local.get $bv)) (local.get $first))))
            (local.set $p (i32.add (local.get $p) (i32.const 4)))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $tl)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $il)))
    (if (i32.eq (local.get $act) (i32.const 1))
      (then (call $tanh_block (local.get $y) (i32.mul (local.get $M) (local.get $N))))))

  ;; cols[(c*K+i)*K+j, p*Q+q] = x[c, p+i, q+j] for one image x [C,H,W]; P = H-K+1, Q = W-K+1.
  (func (export "im2col") (param $x i32) (param $C i32) (param $H i32) (param $W i32) (param $K i32) (param $cols i32)
    (local $c i32) (local $i i32) (local $j i32) (local $p i32) (local $q i32)
    (local $P i32) (local $Q i32) (local $src i32) (local $dst i32)
    (local.set $P (i32.add (i32.sub (local.get $H) (local.get $K)) (i32.const 1)))
    (local.set $Q (i32.add (i32.sub (local.get $W) (local.get $K)) (i32.const 1)))
    (local.set $dst (local.get $cols))
    (local.set $c (i32.const 0))
    (block $cd (loop $cl
      (br_if $cd (i32.ge_s (local.get $c) (local.get $C)))
      (local.set $i (i32.const 0))
      (block $id (loop $il
        (br_if $id (i32.ge_s (local.get $i) (local.get $K)))
        (local.set $j (i32.const 0))
        (block $jd (loop $jl
          (br_if $jd (i32.ge_s (local.get $j) (local.get $K)))
          (local.set $p (i32.const 0))
          (block $pd (loop $pl
            (br_if $pd (i32.ge_s (local.get $p) (local.get $P)))
            (local.set $src (i32.add (local.get $x) (i32.shl
              (i32.add (i32.mul (i32.add (i32.mul (local.get $c) (local.get $H)) (i32.add (local.get $p) (local.get $i))) (local.get $W))
                       (local.get $j)) (i32.const 2))))
            (local.set $q (i32.const 0))
            (block $qd (loop $ql
              (br_if $qd (i32.gt_s (i32.add (local.get $q) (i32.const 4)) (local.get $Q)))
              (v128.store (local.get $dst) (v128.load (local.get $src)))
              (local.set $src (i32.add (local.get $src) (i32.const 16)))
              (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
              (local.set $q (i32.add (local.get $q) (i32.const 4)))
              (br $ql)))
            (block $rd (loop $rl
              (br_if $rd (i32.ge_s (local.get $q) (local.get $Q)))
              (f32.store (local.get $dst) (f32.load (local.get $src)))
              (local.set $src (i32.add (local.get $src) (i32.const 4)))
              (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
              (local.set $q (i32.add (local.get $q) (i32.const 1)))
              (br $rl)))
            (local.set $p (i32.add (local.get $p) (i32.const 1)))
            (br $pl)))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br $jl)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $il)))
      (local.set $c (i32.add (local.get $c) (i32.const 1)))
      (br $cl))))

  ;; colsT[p*Q+q, (c*K+i)*K+j] = x[c, p+i, q+j]: the transpose of im2col, built directly so that
  ;; the filter gradient dW[O, C*K*K] = dY[O, P*Q] · colsT reads B (= colsT) along its rows.
  (func (export "im2colT") (param $x i32) (param $C i32) (param $H i32) (param $W i32) (param $K i32) (param $colsT i32)
    (local $c i32) (local $i i32) (local $j i32) (local $p i32) (local $q i32)
    (local $P i32) (local $Q i32) (local $src i32) (local $dst i32)
    (local.set $P (i32.add (i32.sub (local.get $H) (local.get $K)) (i32.const 1)))
    (local.set $Q (i32.add (i32.sub (local.get $W) (local.get $K)) (i32.const 1)))
    (local.set $dst (local.get $colsT))
    (local.set $p (i32.const 0))
    (block $pd (loop $pl
      (br_if $pd (i32.ge_s (local.get $p) (local.get $P)))
      (local.set $q (i32.const 0))
      (block $qd (loop $ql
        (br_if $qd (i32.ge_s (local.get $q) (local.get $Q)))
        (local.set $c (i32.const 0))
        (block $cd (loop $cl
          (br_if $cd (i32.ge_s (local.get $c) (local.get $C)))
          (local.set $i (i32.const 0))
          (block $id (loop $il
            (br_if $id (i32.ge_s (local.get $i) (local.get $K)))
            (local.set $src (i32.add (local.get $x) (i32.shl
              (i32.add (i32.mul (i32.add (i32.mul (local.get $c) (local.get $H)) (i32.add (local.get $p) (local.get $i))) (local.get $W))
                       (local.get $q)) (i32.const 2))))
            (local.set $j (i32.const 0))
            (block $vd (loop $vl
              (br_if $vd (i32.gt_s (i32.add (local.get $j) (i32.const 4)) (local.get $K)))
              (v128.store (local.get $dst) (v128.load (local.get $src)))
              (local.set $src (i32.add (local.get $src) (i32.const 16)))
              (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
              (local.set $j (i32.add (local.get $j) (i32.const 4)))
              (br $vl)))
            (block $jd (loop $jl
              (br_if $jd (i32.ge_s (local.get $j) (local.get $K)))
              (f32.store (local.get $dst) (f32.load (local.get $src)))
              (local.set $src (i32.add (local.get $src) (i32.const 4)))
              (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
              (local.set $j (i32.add (local.get $j) (i32.const 1)))
              (br $jl)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $il)))
          (local.set $c (i32.add (local.get $c) (i32.const 1)))
          (br $cl)))
        (local.set $q (i32.add (local.get $q) (i32.const 1)))
        (br $ql)))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br $pl))))

  ;; dx[c, p+i, q+j] += dcols[(c*K+i)*K+j, p*Q+q]: the adjoint of im2col. dx must start zeroed.
  (func (export "col2im") (param $dcols i32) (param $C i32) (param $H i32) (param $W i32) (param $K i32) (param $dx i32)
    (local $c i32) (local $i i32) (local $j i32) (local $p i32) (local $q i32)
    (local $P i32) (local $Q i32) (local $src i32) (local $dst i32)
    (local.set $P (i32.add (i32.sub (local.get $H) (local.get $K)) (i32.const 1)))
    (local.set $Q (i32.add (i32.sub (local.get $W) (local.get $K)) (i32.const 1)))
    (local.set $src (local.get $dcols))
    (local.set $c (i32.const 0))
    (block $cd (loop $cl
      (br_if $cd (i32.ge_s (local.get $c) (local.get $C)))
      (local.set $i (i32.const 0))
      (block $id (loop $il
        (br_if $id (i32.ge_s (local.get $i) (local.get $K)))
        (local.set $j (i32.const 0))
        (block $jd (loop $jl
          (br_if $jd (i32.ge_s (local.get $j) (local.get $K)))
          (local.set $p (i32.const 0))
          (block $pd (loop $pl
            (br_if $pd (i32.ge_s (local.get $p) (local.get $P)))
            (local.set $dst (i32.add (local.get $dx) (i32.shl
              (i32.add (i32.mul (i32.add (i32.mul (local.get $c) (local.get $H)) (i32.add (local.get $p) (local.get $i))) (local.get $W))
                       (local.get $j)) (i32.const 2))))
            (local.set $q (i32.const 0))
            (block $qd (loop $ql
              (br_if $qd (i32.gt_s (i32.add (local.get $q) (i32.const 4)) (local.get $Q)))
              (v128.store (local.get $dst) (f32x4.add (v128.load (local.get $dst)) (v128.load (local.get $src))))
              (local.set $src (i32.add (local.get $src) (i32.const 16)))
              (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
              (local.set $q (i32.add (local.get $q) (i32.const 4)))
              (br $ql)))
            (block $rd (loop $rl
              (br_if $rd (i32.ge_s (local.get $q) (local.get $Q)))
              (f32.store (local.get $dst) (f32.add (f32.load (local.get $dst)) (f32.load (local.get $src))))
              (local.set $src (i32.add (local.get $src) (i32.const 4)))
              (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
              (local.set $q (i32.add (local.get $q) (i32.const 1)))
              (br $rl)))
            (local.set $p (i32.add (local.get $p) (i32.const 1)))
            (br $pl)))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br $jl)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $il)))
      (local.set $c (i32.add (local.get $c) (i32.const 1)))
      (br $cl))))

  ;; dst[c, r] = src[r, c] for src [R, C].
  (func (export "transpose") (param $src i32) (param $R i32) (param $C i32) (param $dst i32)
    (local $r i32) (local $c i32) (local $ps i32)
    (local.set $ps (local.get $src))
    (local.set $r (i32.const 0))
    (block $rd (loop $rl
      (br_if $rd (i32.ge_s (local.get $r) (local.get $R)))
      (local.set $c (i32.const 0))
      (block $cd (loop $cl
        (br_if $cd (i32.ge_s (local.get $c) (local.get $C)))
        (f32.store (i32.add (local.get $dst) (i32.shl (i32.add (i32.mul (local.get $c) (local.get $R)) (local.get $r)) (i32.const 2)))
                   (f32.load (local.get $ps)))
        (local.set $ps (i32.add (local.get $ps) (i32.const 4)))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br $cl)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rl))))

  ;; dst[i] += src[i] for n floats (the per-thread partial filter gradients).
  (func (export "add_into") (param $dst i32) (param $src i32) (param $n i32)
    (local $end i32) (local $end4 i32)
    (local.set $end (i32.add (local.get $dst) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $end4 (i32.add (local.get $dst) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $d (loop $l
      (br_if $d (i32.ge_u (local.get $dst) (local.get $end4)))
      (v128.store (local.get $dst) (f32x4.add (v128.load (local.get $dst)) (v128.load (local.get $src))))
      (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
      (local.set $src (i32.add (local.get $src) (i32.const 16)))
      (br $l)))
    (block $d2 (loop $l2
      (br_if $d2 (i32.ge_u (local.get $dst) (local.get $end)))
      (f32.store (local.get $dst) (f32.add (f32.load (local.get $dst)) (f32.load (local.get $src))))
      (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
      (local.set $src (i32.add (local.get $src) (i32.const 4)))
      (br $l2))))

  ;; dx = dy·(1 - y²) (tanh, act 1) or dy·[y > 0] (relu, act 2), n floats; dx may alias dy.
  (func (export "act_backward") (param $act i32) (param $y i32) (param $dy i32) (param $dx i32) (param $n i32)
    (local $i i32) (local $n4 i32) (local $yv v128) (local $g v128)
    (local.set $n4 (i32.and (local.get $n) (i32.const -4)))
    (local.set $i (i32.const 0))
    (block $d (loop $l
      (br_if $d (i32.ge_s (local.get $i) (local.get $n4)))
      (local.set $yv (v128.load (i32.add (local.get $y) (i32.shl (local.get $i) (i32.const 2)))))
      (local.set $g (v128.load (i32.add (local.get $dy) (i32.shl (local.get $i) (i32.const 2)))))
      (v128.store (i32.add (local.get $dx) (i32.shl (local.get $i) (i32.const 2)))
        (if (result v128) (i32.eq (local.get $act) (i32.const 1))
          (then (f32x4.mul (local.get $g) (f32x4.sub (v128.const f32x4 1 1 1 1) (f32x4.mul (local.get $yv) (local.get $yv)))))
          (else (v128.and (local.get $g) (f32x4.gt (local.get $yv) (v128.const f32x4 0 0 0 0))))))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $l)))
    (block $d2 (loop $l2
      (br_if $d2 (i32.ge_s (local.get $i) (local.get $n)))
      (local.set $yv (v128.load32_splat (i32.add (local.get $y) (i32.shl (local.get $i) (i32.const 2)))))
      (local.set $g (v128.load32_splat (i32.add (local.get $dy) (i32.shl (local.get $i) (i32.const 2)))))
      (f32.store (i32.add (local.get $dx) (i32.shl (local.get $i) (i32.const 2)))
        (f32x4.extract_lane 0
          (if (result v128) (i32.eq (local.get $act) (i32.const 1))
            (then (f32x4.mul (local.get $g) (f32x4.sub (v128.const f32x4 1 1 1 1) (f32x4.mul (local.get $yv) (local.get $yv)))))
            (else (v128.and (local.get $g) (f32x4.gt (local.get $yv) (v128.const f32x4 0 0 0 0)))))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l2))))

  ;; y[nc, p, q] = max of the 2x2 window at (2p, 2q) of x [NC, H, W], four outputs at a time:
  ;; two rows of eight inputs, their vertical max, then even lanes against odd lanes. f32x4.max
  ;; agrees with Math.max (+0 over -0, NaN wins) and, unlike scalar f32.max, does not branch on
  ;; the data. Leftover windows of a row go one at a time.
  (func (export "maxpool") (param $x i32) (param $NC i32) (param $H i32) (param $W i32) (param $y i32)
    (local $nc i32) (local $p i32) (local $q i32) (local $Ho i32) (local $Wo i32) (local $Wo4 i32) (local $src i32) (local $row i32)
    (local $v0 v128) (local $v1 v128)
    (local.set $Ho (i32.shr_u (local.get $H) (i32.const 1)))
    (local.set $Wo (i32.shr_u (local.get $W) (i32.const 1)))
    (local.set $Wo4 (i32.and (local.get $Wo) (i32.const -4)))
    (local.set $row (i32.shl (local.get $W) (i32.const 2)))
    (local.set $nc (i32.const 0))
    (block $nd (loop $nl
      (br_if $nd (i32.ge_s (local.get $nc) (local.get $NC)))
      (local.set $p (i32.const 0))
      (block $pd (loop $pl
        (br_if $pd (i32.ge_s (local.get $p) (local.get $Ho)))
        (local.set $src (i32.add (local.get $x) (i32.shl
          (i32.add (i32.mul (local.get $nc) (i32.mul (local.get $H) (local.get $W)))
                   (i32.mul (i32.shl (local.get $p) (i32.const 1)) (local.get $W))) (i32.const 2))))
        (local.set $q (i32.const 0))
        (block $vd (loop $vl
          (br_if $vd (i32.ge_s (local.get $q) (local.get $Wo4)))
          (local.set $v0 (f32x4.max (v128.load (local.get $src)) (v128.load (i32.add (local.get $src) (local.get $row)))))
          (local.set $v1 (f32x4.max (v128.load offset=16 (local.get $src)) (v128.load offset=16 (i32.add (local.get $src) (local.get $row)))))
          (v128.store (local.get $y) (f32x4.max
            (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $v0) (local.get $v1))
            (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $v0) (local.get $v1))))
          (local.set $src (i32.add (local.get $src) (i32.const 32)))
          (local.set $y (i32.add (local.get $y) (i32.const 16)))
          (local.set $q (i32.add (local.get $q) (i32.const 4)))
          (br $vl)))
        (block $qd (loop $ql
          (br_if $qd (i32.ge_s (local.get $q) (local.get $Wo)))
          (f32.store (local.get $y)
            (f32x4.extract_lane 0 (f32x4.max
              (f32x4.max (v128.load32_splat (local.get $src)) (v128.load32_splat offset=4 (local.get $src)))
              (f32x4.max (v128.load32_splat (i32.add (local.get $src) (local.get $row)))
                         (v128.load32_splat offset=4 (i32.add (local.get $src) (local.get $row)))))))
          (local.set $src (i32.add (local.get $src) (i32.const 8)))
          (local.set $y (i32.add (local.get $y) (i32.const 4)))
          (local.set $q (i32.add (local.get $q) (i32.const 1)))
          (br $ql)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $pl)))
      (local.set $nc (i32.add (local.get $nc) (i32.const 1)))
      (br $nl))))

  ;; dx gets dy at the first element of each window, in row-major order, that equals the
  ;; window's maximum y, and 0 at the other three (an odd last row or column of dx is left alone,
  ;; for the caller to zero). Four windows at a time: equality masks of the window's
  ;; four elements against y, each masked by "no earlier element matched", select dy or 0, and
  ;; the results are interleaved back into the two input rows.
  (func (export "maxpool_backward") (param $x i32) (param $y i32) (param $dy i32) (param $NC i32) (param $H i32) (param $W i32) (param $dx i32)
    (local $nc i32) (local $p i32) (local $q i32) (local $Ho i32) (local $Wo i32) (local $Wo4 i32) (local $src i32) (local $row i32)
    (local $m f32) (local $at i32)
    (local $m4 v128) (local $g v128) (local $r0 v128) (local $r1 v128) (local $s0 v128) (local $s1 v128)
    (local $e0 v128) (local $e1 v128) (local $e2 v128) (local $seen v128) (local $d0 v128) (local $d1 v128) (local $d2 v128) (local $d3 v128)
    (local.set $Ho (i32.shr_u (local.get $H) (i32.const 1)))
    (local.set $Wo (i32.shr_u (local.get $W) (i32.const 1)))
    (local.set $Wo4 (i32.and (local.get $Wo) (i32.const -4)))
    (local.set $row (i32.shl (local.get $W) (i32.const 2)))
    (local.set $nc (i32.const 0))
    (block $nd (loop $nl
      (br_if $nd (i32.ge_s (local.get $nc) (local.get $NC)))
      (local.set $p (i32.const 0))
      (block $pd (loop $pl
        (br_if $pd (i32.ge_s (local.get $p) (local.get $Ho)))
        (local.set $src (i32.shl
          (i32.add (i32.mul (local.get $nc) (i32.mul (local.get $H) (local.get $W)))
                   (i32.mul (i32.shl (local.get $p) (i32.const 1)) (local.get $W))) (i32.const 2)))
        (local.set $q (i32.const 0))
        (block $vd (loop $vl
          (br_if $vd (i32.ge_s (local.get $q) (local.get $Wo4)))
          (local.set $m4 (v128.load (local.get $y)))
          (local.set $g (v128.load (local.get $dy)))
          ;; top row: r0 = window elements (0,0), r1 = (0,1); bottom row: s0 = (1,0), s1 = (1,1)
          (local.set $d0 (v128.load (i32.add (local.get $x) (local.get $src))))
          (local.set $d1 (v128.load offset=16 (i32.add (local.get $x) (local.get $src))))
          (local.set $r0 (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $d0) (local.get $d1)))
          (local.set $r1 (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $d0) (local.get $d1)))
          (local.set $d0 (v128.load (i32.add (i32.add (local.get $x) (local.get $src)) (local.get $row))))
          (local.set $d1 (v128.load offset=16 (i32.add (i32.add (local.get $x) (local.get $src)) (local.get $row))))
          (local.set $s0 (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $d0) (local.get $d1)))
          (local.set $s1 (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $d0) (local.get $d1)))
          (local.set $e0 (f32x4.eq (local.get $r0) (local.get $m4)))
          (local.set $e1 (v128.andnot (f32x4.eq (local.get $r1) (local.get $m4)) (local.get $e0)))
          (local.set $seen (v128.or (local.get $e0) (local.get $e1)))
          (local.set $e2 (v128.andnot (f32x4.eq (local.get $s0) (local.get $m4)) (local.get $seen)))
          (local.set $seen (v128.or (local.get $seen) (local.get $e2)))
          (local.set $d0 (v128.and (local.get $g) (local.get $e0)))
          (local.set $d1 (v128.and (local.get $g) (local.get $e1)))
          (local.set $d2 (v128.and (local.get $g) (local.get $e2)))
          (local.set $d3 (v128.andnot (local.get $g) (local.get $seen)))
          (v128.store (i32.add (local.get $dx) (local.get $src))
            (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $d0) (local.get $d1)))
          (v128.store offset=16 (i32.add (local.get $dx) (local.get $src))
            (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $d0) (local.get $d1)))
          (v128.store (i32.add (i32.add (local.get $dx) (local.get $src)) (local.get $row))
            (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $d2) (local.get $d3)))
          (v128.store offset=16 (i32.add (i32.add (local.get $dx) (local.get $src)) (local.get $row))
            (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $d2) (local.get $d3)))
          (local.set $src (i32.add (local.get $src) (i32.const 32)))
          (local.set $y (i32.add (local.get $y) (i32.const 16)))
          (local.set $dy (i32.add (local.get $dy) (i32.const 16)))
          (local.set $q (i32.add (local.get $q) (i32.const 4)))
          (br $vl)))
        (block $qd (loop $ql
          (br_if $qd (i32.ge_s (local.get $q) (local.get $Wo)))
          (local.set $m (f32.load (local.get $y)))
          (local.set $at
            (if (result i32) (f32.eq (f32.load (i32.add (local.get $x) (local.get $src))) (local.get $m))
              (then (local.get $src))
              (else (if (result i32) (f32.eq (f32.load offset=4 (i32.add (local.get $x) (local.get $src))) (local.get $m))
                (then (i32.add (local.get $src) (i32.const 4)))
                (else (if (result i32) (f32.eq (f32.load (i32.add (i32.add (local.get $x) (local.get $src)) (local.get $row))) (local.get $m))
                  (then (i32.add (local.get $src) (local.get $row)))
                  (else (i32.add (i32.add (local.get $src) (local.get $row)) (i32.const 4)))))))))
          (f64.store (i32.add (local.get $dx) (local.get $src)) (f64.const 0))
          (f64.store (i32.add (i32.add (local.get $dx) (local.get $src)) (local.get $row)) (f64.const 0))
          (f32.store (i32.add (local.get $dx) (local.get $at)) (f32.load (local.get $dy)))
          (local.set $src (i32.add (local.get $src) (i32.const 8)))
          (local.set $y (i32.add (local.get $y) (i32.const 4)))
          (local.set $dy (i32.add (local.get $dy) (i32.const 4)))
          (local.set $q (i32.add (local.get $q) (i32.const 1)))
          (br $ql)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $pl)))
      (local.set $nc (i32.add (local.get $nc) (i32.const 1)))
      (br $nl))))

  ;; db[o] (zeroed by the caller) += Σ_n Σ_k dy[n, o, k] for dy [N, O, inner].
  (func (export "bias_grad") (param $dy i32) (param $N i32) (param $O i32) (param $inner i32) (param $db i32)
    (local $n i32) (local $o i32) (local $k i32) (local $acc v128) (local $s f32) (local $inner4 i32) (local $pdb i32)
    (local.set $inner4 (i32.and (local.get $inner) (i32.const -4)))
    (local.set $n (i32.const 0))
    (block $nd (loop $nl
      (br_if $nd (i32.ge_s (local.get $n) (local.get $N)))
      (local.set $o (i32.const 0))
      (block $od (loop $ol
        (br_if $od (i32.ge_s (local.get $o) (local.get $O)))
        (local.set $acc (v128.const i32x4 0 0 0 0))
        (local.set $k (i32.const 0))
        (block $kd (loop $kl
          (br_if $kd (i32.ge_s (local.get $k) (local.get $inner4)))
          (local.set $acc (f32x4.add (local.get $acc) (v128.load (local.get $dy))))
          (local.set $dy (i32.add (local.get $dy) (i32.const 16)))
          (local.set $k (i32.add (local.get $k) (i32.const 4)))
          (br $kl)))
        (local.set $s (f32.add
          (f32.add (f32x4.extract_lane 0 (local.get $acc)) (f32x4.extract_lane 1 (local.get $acc)))
          (f32.add (f32x4.extract_lane 2 (local.get $acc)) (f32x4.extract_lane 3 (local.get $acc)))))
        (block $td (loop $tl
          (br_if $td (i32.ge_s (local.get $k) (local.get $inner)))
          (local.set $s (f32.add (local.get $s) (f32.load (local.get $dy))))
          (local.set $dy (i32.add (local.get $dy) (i32.const 4)))
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (br $tl)))
        (local.set $pdb (i32.add (local.get $db) (i32.shl (local.get $o) (i32.const 2))))
        (f32.store (local.get $pdb) (f32.add (f32.load (local.get $pdb)) (local.get $s)))
        (local.set $o (i32.add (local.get $o) (i32.const 1)))
        (br $ol)))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $nl))))

  ;; In place, n floats: v = m·v + g + wd·w; w -= lr·v (hasV=1), or w -= lr·(g + wd·w) (hasV=0).
  (func (export "sgd") (param $w i32) (param $g i32) (param $v i32) (param $n i32) (param $hasV i32)
        (param $lr f32) (param $m f32) (param $wd f32)
    (local $i i32) (local $n4 i32) (local $lr4 v128) (local $m4 v128) (local $wd4 v128) (local $wv v128) (local $d v128)
    (local $ws f32) (local $ds f32)
    (local.set $n4 (i32.and (local.get $n) (i32.const -4)))
    (local.set $lr4 (f32x4.splat (local.get $lr)))
    (local.set $m4 (f32x4.splat (local.get $m)))
    (local.set $wd4 (f32x4.splat (local.get $wd)))
    (local.set $i (i32.const 0))
    (block $d1 (loop $l1
      (br_if $d1 (i32.ge_s (local.get $i) (local.get $n4)))
      (local.set $wv (v128.load (local.get $w)))
      (local.set $d (f32x4.add (v128.load (local.get $g)) (f32x4.mul (local.get $wd4) (local.get $wv))))
      (if (local.get $hasV)
        (then
          (local.set $d (f32x4.add (f32x4.mul (local.get $m4) (v128.load (local.get $v))) (local.get $d)))
          (v128.store (local.get $v) (local.get $d))
          (local.set $v (i32.add (local.get $v) (i32.const 16)))))
      (v128.store (local.get $w) (f32x4.sub (local.get $wv) (f32x4.mul (local.get $lr4) (local.get $d))))
      (local.set $w (i32.add (local.get $w) (i32.const 16)))
      (local.set $g (i32.add (local.get $g) (i32.const 16)))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $l1)))
    (block $d2 (loop $l2
      (br_if $d2 (i32.ge_s (local.get $i) (local.get $n)))
      (local.set $ws (f32.load (local.get $w)))
      (local.set $ds (f32.add (f32.load (local.get $g)) (f32.mul (local.get $wd) (local.get $ws))))
      (if (local.get $hasV)
        (then
          (local.set $ds (f32.add (f32.mul (local.get $m) (f32.load (local.get $v))) (local.get $ds)))
          (f32.store (local.get $v) (local.get $ds))
          (local.set $v (i32.add (local.get $v) (i32.const 4)))))
      (f32.store (local.get $w) (f32.sub (local.get $ws) (f32.mul (local.get $lr) (local.get $ds))))
      (local.set $w (i32.add (local.get $w) (i32.const 4)))
      (local.set $g (i32.add (local.get $g) (i32.const 4)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l2))))
)
