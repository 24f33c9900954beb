;; The gossip codecs (fp16.ts, q8.ts) and the averaging passes (averaging.ts) in WebAssembly with
;; 128-bit SIMD, written by hand; the JS functions stay the reference, and every function here must give their bytes and float32 bits
;; exactly, since peers running either path exchange models (test/sync/codec-wasm.test.ts).
;; scripts/build-wasm.mjs compiles this file into codec.generated.ts.
;;
;; Pointers are byte offsets into the module's own memory (the JS side copies in and out, and grows
;; it). Loops run in whole vectors and may read and write up to 64 bytes past the end of an array:
;; the caller leaves that much room after each one, so no tail loops are needed.
;;
;; Where the JS computes in doubles (q8's quantising, reconstruction and residual), this code does
;; too (f64x2): float32 arithmetic would round some values differently.
(module
  (memory (export "memory") 1)

  ;; four float32 bit patterns -> four binary16 patterns in the low halves of the lanes, as toHalfBits
  (func $half4 (param $b v128) (result v128)
    (local $a v128) (local $r v128) (local $sub v128)
    (local.set $a (v128.and (local.get $b) (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff)))
    ;; normal halves: the carry trick of encodeHalf's fast loop (round to nearest, ties to even)
    (local.set $r
      (i32x4.shr_u
        (i32x4.sub
          (i32x4.add
            (i32x4.add (local.get $a) (v128.const i32x4 0xfff 0xfff 0xfff 0xfff))
            (v128.and (i32x4.shr_u (local.get $a) (i32.const 13)) (v128.const i32x4 1 1 1 1)))
          (v128.const i32x4 0x38000000 0x38000000 0x38000000 0x38000000))
        (i32.const 13)))
    ;; below 2^-14 (subnormal halves and zeros): the float32 adder rounds to nearest even for us.
    ;; 0.5 has a unit in the last place of 2^-24, the half subnormal step, so |x| + 0.5 rounds |x| to
    ;; a whole number of steps, and its bits above 0.5's are that number (1024 at 2^-14, the smallest
    ;; normal half, so a carry is right too). Where NEON flushes a float32 subnormal |x| to zero (32-bit
    ;; ARM) the sum is still 0.5: such values round to a zero half anyway
    (local.set $sub
      (i32x4.sub
        (f32x4.add (local.get $a) (v128.const f32x4 0.5 0.5 0.5 0.5))
        (v128.const i32x4 0x3f000000 0x3f000000 0x3f000000 0x3f000000)))
    (local.set $r (v128.bitselect (local.get $sub) (local.get $r)
      (i32x4.lt_s (local.get $a) (v128.const i32x4 0x38800000 0x38800000 0x38800000 0x38800000))))
    ;; 2^16 and up, infinity included: infinity
    (local.set $r (v128.bitselect (v128.const i32x4 0x7c00 0x7c00 0x7c00 0x7c00) (local.get $r)
      (i32x4.ge_s (local.get $a) (v128.const i32x4 0x47800000 0x47800000 0x47800000 0x47800000))))
    ;; NaN: the quiet NaN toHalfBits writes, whatever the payload
    (local.set $r (v128.bitselect (v128.const i32x4 0x7e00 0x7e00 0x7e00 0x7e00) (local.get $r)
      (i32x4.gt_s (local.get $a) (v128.const i32x4 0x7f800000 0x7f800000 0x7f800000 0x7f800000))))
    (v128.or (local.get $r)
      (v128.and (i32x4.shr_u (local.get $b) (i32.const 16)) (v128.const i32x4 0x8000 0x8000 0x8000 0x8000))))

  ;; n float32 at src -> n binary16 at dst, in groups of 8
  (func (export "f16_enc") (param $src i32) (param $dst i32) (param $n i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $src) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
        ;; every lane holds 0..0xffff, so the saturating narrow is a plain one
        (v128.store (local.get $dst)
          (i16x8.narrow_i32x4_u
            (call $half4 (v128.load (local.get $src)))
            (call $half4 (v128.load offset=16 (local.get $src)))))
        (local.set $src (i32.add (local.get $src) (i32.const 32)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
        (br $l))))

  ;; four binary16 patterns (zero-extended lanes) -> float32 bits, as decodeHalfBytes and its table
  (func $float4 (param $h v128) (result v128)
    (local $m v128) (local $r v128)
    (local.set $m (v128.and (local.get $h) (v128.const i32x4 0x7fff 0x7fff 0x7fff 0x7fff)))
    ;; normal: bits moved up 13 places plus the exponent bias difference
    (local.set $r (i32x4.add (i32x4.shl (local.get $m) (i32.const 13))
      (v128.const i32x4 0x38000000 0x38000000 0x38000000 0x38000000)))
    ;; zero and subnormal (exponent 0): mantissa * 2^-24, exact in float32
    (local.set $r (v128.bitselect
      (f32x4.mul (f32x4.convert_i32x4_s (local.get $m)) (v128.const f32x4 0x1p-24 0x1p-24 0x1p-24 0x1p-24))
      (local.get $r)
      (i32x4.lt_s (local.get $m) (v128.const i32x4 0x400 0x400 0x400 0x400))))
    (local.set $r (v128.bitselect (v128.const i32x4 0x7f800000 0x7f800000 0x7f800000 0x7f800000) (local.get $r)
      (i32x4.ge_s (local.get $m) (v128.const i32x4 0x7c00 0x7c00 0x7c00 0x7c00))))
    (local.set $r (v128.or (local.get $r)
      (i32x4.shl (v128.and (local.get $h) (v128.const i32x4 0x8000 0x8000 0x8000 0x8000)) (i32.const 16))))
    ;; every NaN half decodes to the one NaN the JS table holds (JS's NaN, positive, no payload)
    (v128.bitselect (v128.const i32x4 0x7fc00000 0x7fc00000 0x7fc00000 0x7fc00000) (local.get $r)
      (i32x4.gt_s (local.get $m) (v128.const i32x4 0x7c00 0x7c00 0x7c00 0x7c00))))

  ;; n binary16 at src -> n float32 at dst, in groups of 8
  (func (export "f16_dec") (param $src i32) (param $dst i32) (param $n i32)
    (local $end i32) (local $h v128)
    (local.set $end (i32.add (local.get $src) (i32.shl (local.get $n) (i32.const 1))))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
        (local.set $h (v128.load (local.get $src)))
        (v128.store (local.get $dst) (call $float4 (i32x4.extend_low_i16x8_u (local.get $h))))
        (v128.store offset=16 (local.get $dst) (call $float4 (i32x4.extend_high_i16x8_u (local.get $h))))
        (local.set $src (i32.add (local.get $src) (i32.const 16)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 32)))
        (br $l))))

  ;; float32(min + q * step) for four codes q (i32 lanes), in double as the JS decoder computes it
  (func $recon4 (param $q v128) (param $min2 v128) (param $step2 v128) (result v128)
    (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
      (f32x4.demote_f64x2_zero
        (f64x2.add (local.get $min2) (f64x2.mul (f64x2.convert_low_i32x4_s (local.get $q)) (local.get $step2))))
      (f32x4.demote_f64x2_zero
        (f64x2.add (local.get $min2)
          (f64x2.mul
            (f64x2.convert_low_i32x4_s (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $q) (local.get $q)))
            (local.get $step2))))))

;; 1 if float32 SIMD arithmetic flushes subnormals to zero here (pass x = 1). It does on 32-bit
  ;; ARM, where NEON always runs with flush-to-zero, and the q8 encoder's float32 sums and
  ;; differences then differed from the JS ones on armhf Node.js (test/ship/codec-arm.test.ts);
  ;; there the encoder is called with exact = 1 and computes them as below.
  (func (export "simd_flushes") (param $x i32) (result i32)
    (i32.ne (i32x4.extract_lane 0 (f32x4.add (i32x4.splat (local.get $x)) (i32x4.splat (local.get $x)))) (i32.shl (local.get $x) (i32.const 1))))

  ;; float32 sums and differences as the JS computes them: in double, rounded once to float32 (which
  ;; is the correctly rounded float32 result); V8 runs f64x2 on VFP on 32-bit ARM, which keeps subnormals.
  (func $add4 (param $a v128) (param $b v128) (result v128)
    (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
      (f32x4.demote_f64x2_zero (f64x2.add (f64x2.promote_low_f32x4 (local.get $a)) (f64x2.promote_low_f32x4 (local.get $b))))
      (f32x4.demote_f64x2_zero (f64x2.add
        (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $a) (local.get $a)))
        (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $b) (local.get $b)))))))
  (func $sub4 (param $a v128) (param $b v128) (result v128)
    (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
      (f32x4.demote_f64x2_zero (f64x2.sub (f64x2.promote_low_f32x4 (local.get $a)) (f64x2.promote_low_f32x4 (local.get $b))))
      (f32x4.demote_f64x2_zero (f64x2.sub
        (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $a) (local.get $a)))
        (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $b) (local.get $b)))))))

  ;; float32 bits -> integers in the same order as the values (negatives' magnitude bits flipped),
  ;; so that a block's range is found with integer min/max, which no flush-to-zero touches. -0 sorts
  ;; just below +0 where the JS holds them equal: the caller rescans a range whose bottom is a zero.
  (func $key (param $v v128) (result v128)
    (v128.xor (local.get $v) (i32x4.shr_u (i32x4.shr_s (local.get $v) (i32.const 31)) (i32.const 1))))
  (func $unkey (param $k i32) (result i32)
    (i32.xor (local.get $k) (i32.shr_u (i32.shr_s (local.get $k) (i32.const 31)) (i32.const 1))))

  ;; float32(min + 255 * step) in double, the top of a block's range
  (func $top (param $min f32) (param $step f32) (result f32)
    (f32.demote_f64 (f64.add (f64.promote_f32 (local.get $min))
      (f64.mul (f64.const 255) (f64.promote_f32 (local.get $step))))))

  (func $finite (param $x f32) (result i32)
    (f32.lt (f32.abs (local.get $x)) (f32.const inf)))

  ;; encodeQ8 over n float32 at src (overwritten by src + r when fb), into q8 blocks at out; with fb,
  ;; the residual of every accepted block goes to next. exact: float32 sums and differences through
  ;; double ($add4, $sub4), for where simd_flushes. 1 if every block was accepted.
  (func (export "q8_enc") (param $src i32) (param $r i32) (param $next i32) (param $out i32) (param $n i32) (param $fb i32) (param $exact i32) (result i32)
    (local $b i32) (local $len i32) (local $p i32) (local $i i32) (local $c i32) (local $ok i32) (local $all i32)
    (local $f f32) (local $lo f32) (local $hi f32) (local $pr f32) (local $min f32) (local $step f32) (local $x f32)
    (local $inv f64)
    (local $v v128) (local $lo4 v128) (local $hi4 v128) (local $pr4 v128) (local $q v128)
    (local $min2 v128) (local $inv2 v128) (local $step2 v128) (local $d v128)
    (local.set $all (i32.const 1))
    (block $blocks_done
      (loop $blocks
        (br_if $blocks_done (i32.ge_u (local.get $b) (local.get $n)))
        (local.set $len (i32.sub (local.get $n) (local.get $b)))
        (if (i32.gt_u (local.get $len) (i32.const 64)) (then (local.set $len (i32.const 64))))
        (local.set $p (i32.add (local.get $src) (i32.shl (local.get $b) (i32.const 2))))

        ;; v = x + r (float32, as the JS holds it), its range, and whether a value is not finite
        (if (i32.eq (local.get $len) (i32.const 64))
          (then
            (local.set $lo4 (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff))
            (local.set $hi4 (v128.const i32x4 0x80000000 0x80000000 0x80000000 0x80000000))
            (local.set $pr4 (v128.const i32x4 0 0 0 0))
            (local.set $i (i32.const 0))
            (loop $range
              (local.set $v (v128.load (i32.add (local.get $p) (local.get $i))))
              (if (local.get $fb)
                (then
                  (local.set $d (v128.load (i32.add (i32.add (local.get $r) (i32.shl (local.get $b) (i32.const 2))) (local.get $i))))
                  (local.set $v (if (result v128) (local.get $exact)
                    (then (call $add4 (local.get $v) (local.get $d)))
                    (else (f32x4.add (local.get $v) (local.get $d)))))
                  (v128.store (i32.add (local.get $p) (local.get $i)) (local.get $v))))
              (local.set $d (call $key (local.get $v)))
              (local.set $lo4 (i32x4.min_s (local.get $lo4) (local.get $d)))
              (local.set $hi4 (i32x4.max_s (local.get $hi4) (local.get $d)))
              ;; all exponent bits set: infinity or NaN
              (local.set $pr4 (v128.or (local.get $pr4)
                (i32x4.eq (v128.and (local.get $v) (v128.const i32x4 0x7f800000 0x7f800000 0x7f800000 0x7f800000))
                          (v128.const i32x4 0x7f800000 0x7f800000 0x7f800000 0x7f800000))))
              (local.set $i (i32.add (local.get $i) (i32.const 16)))
              (br_if $range (i32.lt_u (local.get $i) (i32.const 256))))
            (local.set $ok (i32.eqz (v128.any_true (local.get $pr4))))
            (local.set $c (i32x4.extract_lane 0 (local.get $lo4)))
            (local.set $c (select (local.get $c) (i32x4.extract_lane 1 (local.get $lo4)) (i32.lt_s (local.get $c) (i32x4.extract_lane 1 (local.get $lo4)))))
            (local.set $c (select (local.get $c) (i32x4.extract_lane 2 (local.get $lo4)) (i32.lt_s (local.get $c) (i32x4.extract_lane 2 (local.get $lo4)))))
            (local.set $c (select (local.get $c) (i32x4.extract_lane 3 (local.get $lo4)) (i32.lt_s (local.get $c) (i32x4.extract_lane 3 (local.get $lo4)))))
            (local.set $lo (f32.reinterpret_i32 (call $unkey (local.get $c))))
            (local.set $c (i32x4.extract_lane 0 (local.get $hi4)))
            (local.set $c (select (local.get $c) (i32x4.extract_lane 1 (local.get $hi4)) (i32.gt_s (local.get $c) (i32x4.extract_lane 1 (local.get $hi4)))))
            (local.set $c (select (local.get $c) (i32x4.extract_lane 2 (local.get $hi4)) (i32.gt_s (local.get $c) (i32x4.extract_lane 2 (local.get $hi4)))))
            (local.set $c (select (local.get $c) (i32x4.extract_lane 3 (local.get $hi4)) (i32.gt_s (local.get $c) (i32x4.extract_lane 3 (local.get $hi4)))))
            (local.set $hi (f32.reinterpret_i32 (call $unkey (local.get $c))))
            ;; with a zero at the bottom of the range, which zero the JS keeps (-0 or +0, written
            ;; into min) is the first in index order, which the lanes lost: take the range again in
            ;; order. (The sign of a zero at the top never reaches the output: hi only enters a
            ;; difference and a comparison.)
            (if (i32.and (local.get $ok) (f32.eq (local.get $lo) (f32.const 0)))
              (then
                (local.set $lo (f32.const inf))
                (local.set $hi (f32.const -inf))
                (local.set $i (i32.const 0))
                (loop $again
                  (local.set $f (f32.load (i32.add (local.get $p) (local.get $i))))
                  (local.set $lo (select (local.get $f) (local.get $lo) (f32.lt (local.get $f) (local.get $lo))))
                  (local.set $hi (select (local.get $f) (local.get $hi) (f32.gt (local.get $f) (local.get $hi))))
                  (local.set $i (i32.add (local.get $i) (i32.const 4)))
                  (br_if $again (i32.lt_u (local.get $i) (i32.const 256)))))))
          (else
            ;; the partial last block, one value at a time as the JS does it
            (local.set $lo (f32.const inf))
            (local.set $hi (f32.const -inf))
            (local.set $pr (f32.const 0))
            (local.set $i (i32.const 0))
            (loop $range1
              (local.set $f (f32.load (i32.add (local.get $p) (local.get $i))))
              (if (local.get $fb)
                (then
                  (local.set $f (f32.add (local.get $f)
                    (f32.load (i32.add (i32.add (local.get $r) (i32.shl (local.get $b) (i32.const 2))) (local.get $i)))))
                  (f32.store (i32.add (local.get $p) (local.get $i)) (local.get $f))))
              (local.set $lo (select (local.get $f) (local.get $lo) (f32.lt (local.get $f) (local.get $lo))))
              (local.set $hi (select (local.get $f) (local.get $hi) (f32.gt (local.get $f) (local.get $hi))))
              (local.set $pr (f32.add (local.get $pr) (f32.mul (local.get $f) (f32.const 0))))
              (local.set $i (i32.add (local.get $i) (i32.const 4)))
              (br_if $range1 (i32.lt_u (local.get $i) (i32.shl (local.get $len) (i32.const 2)))))
            (local.set $ok (f32.eq (local.get $pr) (f32.const 0)))))

        ;; the header, scalar and in double exactly as encodeQ8 computes it
        (local.set $min (local.get $lo))
        (local.set $step (f32.const 0))
        (if (local.get $ok)
          (then
            (local.set $step (f32.demote_f64 (f64.div
              (f64.sub (f64.promote_f32 (local.get $hi)) (f64.promote_f32 (local.get $lo)))
              (f64.const 255))))
            (if (i32.and (f32.gt (local.get $hi) (local.get $lo))
                  (f32.lt (call $top (local.get $min) (local.get $step)) (local.get $hi)))
              (then (local.set $step (f32.reinterpret_i32 (i32.add (i32.reinterpret_f32 (local.get $step)) (i32.const 1))))))
            (if (i32.eqz (call $finite (call $top (local.get $min) (local.get $step))))
              (then (local.set $ok (i32.const 0))))))
        (if (i32.eqz (local.get $ok))
          (then
            ;; refused: a NaN min (the bits of JS's NaN) that every decoder refuses, step 0, codes 0
            (local.set $all (i32.const 0))
            (i32.store (local.get $out) (i32.const 0x7fc00000))
            (i32.store offset=4 (local.get $out) (i32.const 0))
            (memory.fill (i32.add (local.get $out) (i32.const 8)) (i32.const 0) (local.get $len)))
          (else
            (f32.store (local.get $out) (local.get $min))
            (f32.store offset=4 (local.get $out) (local.get $step))
            (local.set $inv (f64.const 0))
            (if (f32.gt (local.get $step) (f32.const 0))
              (then (local.set $inv (f64.div (f64.const 1) (f64.promote_f32 (local.get $step))))))
            (local.set $min2 (f64x2.splat (f64.promote_f32 (local.get $min))))
            (local.set $step2 (f64x2.splat (f64.promote_f32 (local.get $step))))
            (local.set $inv2 (f64x2.splat (local.get $inv)))
            (local.set $c (i32.add (local.get $out) (i32.const 8)))
            ;; q = trunc((v - min) * inv + 0.5) in double, clamped to 255; v >= min, so trunc is
            ;; the JS's | 0. A partial block's last group runs past len into the padding.
            (local.set $i (i32.const 0))
            (loop $quant
              (local.set $v (v128.load (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 2)))))
              (local.set $q
                (i32x4.min_s
                  (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
                    (i32x4.trunc_sat_f64x2_s_zero
                      (f64x2.add
                        (f64x2.mul (f64x2.sub (f64x2.promote_low_f32x4 (local.get $v)) (local.get $min2)) (local.get $inv2))
                        (v128.const f64x2 0.5 0.5)))
                    (i32x4.trunc_sat_f64x2_s_zero
                      (f64x2.add
                        (f64x2.mul
                          (f64x2.sub
                            (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v)))
                            (local.get $min2))
                          (local.get $inv2))
                        (v128.const f64x2 0.5 0.5))))
                  (v128.const i32x4 255 255 255 255)))
              (local.set $d (i16x8.narrow_i32x4_u (local.get $q) (local.get $q)))
              (v128.store32_lane 0 (i32.add (local.get $c) (local.get $i))
                (i8x16.narrow_i16x8_u (local.get $d) (local.get $d)))
              ;; the residual: v - float32(min + q * step), the decoder's very expression
              (if (local.get $fb)
                (then
                  (v128.store (i32.add (local.get $next) (i32.shl (i32.add (local.get $b) (local.get $i)) (i32.const 2)))
                    (if (result v128) (local.get $exact)
                      (then (call $sub4 (local.get $v) (call $recon4 (local.get $q) (local.get $min2) (local.get $step2))))
                      (else (f32x4.sub (local.get $v) (call $recon4 (local.get $q) (local.get $min2) (local.get $step2))))))))
              (local.set $i (i32.add (local.get $i) (i32.const 4)))
              (br_if $quant (i32.lt_u (local.get $i) (local.get $len))))))
        (local.set $out (i32.add (local.get $out) (i32.add (i32.const 8) (local.get $len))))
        (local.set $b (i32.add (local.get $b) (i32.const 64)))
        (br $blocks)))
    (local.get $all))

  ;; 1 if every block header in the nbytes at src is one decodeQ8 accepts
  (func (export "q8_check") (param $src i32) (param $nbytes i32) (result i32)
    (local $o i32) (local $min f32) (local $step f32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $o) (local.get $nbytes)))
        (local.set $min (f32.load (i32.add (local.get $src) (local.get $o))))
        (local.set $step (f32.load offset=4 (i32.add (local.get $src) (local.get $o))))
        (if (i32.eqz (call $finite (local.get $min))) (then (return (i32.const 0))))
        (if (i32.eqz (f32.ge (local.get $step) (f32.const 0))) (then (return (i32.const 0))))
        (if (i32.eqz (call $finite (call $top (local.get $min) (local.get $step)))) (then (return (i32.const 0))))
        (local.set $o (i32.add (local.get $o) (i32.const 72)))
        (br $l)))
    (i32.const 1))

  ;; count parameters from the q8 blocks at src (checked by q8_check) into float32 at dst, 16 at a time
  (func (export "q8_dec") (param $src i32) (param $count i32) (param $dst i32)
    (local $b i32) (local $len i32) (local $i i32) (local $c i32) (local $o i32)
    (local $min2 v128) (local $step2 v128) (local $bytes v128) (local $w v128)
    (block $blocks_done
      (loop $blocks
        (br_if $blocks_done (i32.ge_u (local.get $b) (local.get $count)))
        (local.set $len (i32.sub (local.get $count) (local.get $b)))
        (if (i32.gt_u (local.get $len) (i32.const 64)) (then (local.set $len (i32.const 64))))
        (local.set $min2 (f64x2.splat (f64.promote_f32 (f32.load (local.get $src)))))
        (local.set $step2 (f64x2.splat (f64.promote_f32 (f32.load offset=4 (local.get $src)))))
        (local.set $c (i32.add (local.get $src) (i32.const 8)))
        (local.set $o (i32.add (local.get $dst) (i32.shl (local.get $b) (i32.const 2))))
        (local.set $i (i32.const 0))
        (loop $codes
          (local.set $bytes (v128.load (i32.add (local.get $c) (local.get $i))))
          (local.set $w (i16x8.extend_low_i8x16_u (local.get $bytes)))
          (v128.store (local.get $o)
            (call $recon4 (i32x4.extend_low_i16x8_u (local.get $w)) (local.get $min2) (local.get $step2)))
          (v128.store offset=16 (local.get $o)
            (call $recon4 (i32x4.extend_high_i16x8_u (local.get $w)) (local.get $min2) (local.get $step2)))
          (local.set $w (i16x8.extend_high_i8x16_u (local.get $bytes)))
          (v128.store offset=32 (local.get $o)
            (call $recon4 (i32x4.extend_low_i16x8_u (local.get $w)) (local.get $min2) (local.get $step2)))
          (v128.store offset=48 (local.get $o)
            (call $recon4 (i32x4.extend_high_i16x8_u (local.get $w)) (local.get $min2) (local.get $step2)))
          (local.set $o (i32.add (local.get $o) (i32.const 64)))
          (local.set $i (i32.add (local.get $i) (i32.const 16)))
          (br_if $codes (i32.lt_u (local.get $i) (local.get $len))))
        (local.set $src (i32.add (local.get $src) (i32.add (i32.const 8) (local.get $len))))
        (local.set $b (i32.add (local.get $b) (i32.const 64)))
        (br $blocks))))

  ;; ---------------------------------------------------------------- averaging (averaging.ts)
  ;; These two are not codecs but the exchange's other passes over a whole model; they sit here to
  ;; share the module and its copy-in/copy-out wrapper (WasmCodec).

  ;; measureIntoDelta: n float32 own values at $s and n peer values at $p. Writes w * (p - s) at $o,
  ;; in double and rounded once, as the JS computes it (bit for bit), and the sums of s*s, p*p and
  ;; d*d, in double, to three f64 at $sums (summed two lanes apart, so their last bits may differ from
  ;; the JS's left-to-right sums). Four values a turn: the caller zero-fills the 16 bytes after both
  ;; inputs, so a partial last vector adds nothing to the sums.
  (func (export "delta_f64") (param $s i32) (param $p i32) (param $o i32) (param $n i32) (param $w f64) (param $sums i32)
    (local $end i32) (local $w2 v128) (local $a v128) (local $b v128)
    (local $slo v128) (local $shi v128) (local $plo v128) (local $phi v128) (local $dlo v128) (local $dhi v128)
    (local $ss1 v128) (local $ss2 v128) (local $pp1 v128) (local $pp2 v128) (local $dd1 v128) (local $dd2 v128)
    (local.set $w2 (f64x2.splat (local.get $w)))
    (local.set $end (i32.add (local.get $s) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $s) (local.get $end)))
        (local.set $a (v128.load (local.get $s)))
        (local.set $b (v128.load (local.get $p)))
        (local.set $slo (f64x2.promote_low_f32x4 (local.get $a)))
        (local.set $shi (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $a) (local.get $a))))
        (local.set $plo (f64x2.promote_low_f32x4 (local.get $b)))
        (local.set $phi (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $b) (local.get $b))))
        (local.set $dlo (f64x2.sub (local.get $plo) (local.get $slo)))
        (local.set $dhi (f64x2.sub (local.get $phi) (local.get $shi)))
        ;; two accumulators a sum, so that one add's latency does not hold up the next turn
        (local.set $ss1 (f64x2.add (local.get $ss1) (f64x2.mul (local.get $slo) (local.get $slo))))
        (local.set $ss2 (f64x2.add (local.get $ss2) (f64x2.mul (local.get $shi) (local.get $shi))))
        (local.set $pp1 (f64x2.add (local.get $pp1) (f64x2.mul (local.get $plo) (local.get $plo))))
        (local.set $pp2 (f64x2.add (local.get $pp2) (f64x2.mul (local.get $phi) (local.get $phi))))
        (local.set $dd1 (f64x2.add (local.get $dd1) (f64x2.mul (local.get $dlo) (local.get $dlo))))
        (local.set $dd2 (f64x2.add (local.get $dd2) (f64x2.mul (local.get $dhi) (local.get $dhi))))
        (v128.store (local.get $o)
          (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
            (f32x4.demote_f64x2_zero (f64x2.mul (local.get $w2) (local.get $dlo)))
            (f32x4.demote_f64x2_zero (f64x2.mul (local.get $w2) (local.get $dhi)))))
        (local.set $s (i32.add (local.get $s) (i32.const 16)))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (local.set $o (i32.add (local.get $o) (i32.const 16)))
        (br $l)))
    (f64.store (local.get $sums) (call $sum2 (f64x2.add (local.get $ss1) (local.get $ss2))))
    (f64.store offset=8 (local.get $sums) (call $sum2 (f64x2.add (local.get $pp1) (local.get $pp2))))
    (f64.store offset=16 (local.get $sums) (call $sum2 (f64x2.add (local.get $dd1) (local.get $dd2)))))

  (func $sum2 (param $v v128) (result f64)
    (f64.add (f64x2.extract_lane 0 (local.get $v)) (f64x2.extract_lane 1 (local.get $v))))

  ;; applyBlend's average: n float32 at $src added into the n at $dst, four a turn, with q8's $add4
  ;; (in double and rounded once: the float32 sum exactly, as in JS, also where NEON flushes subnormals)
  (func (export "add_f32") (param $dst i32) (param $src i32) (param $n i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $dst) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $dst) (local.get $end)))
        (v128.store (local.get $dst) (call $add4 (v128.load (local.get $dst)) (v128.load (local.get $src))))
        (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
        (local.set $src (i32.add (local.get $src) (i32.const 16)))
        (br $l)))))
