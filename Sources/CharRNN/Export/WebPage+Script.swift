// The HTML and JavaScript of the page WebPage.swift writes. The script is
// plain ES2020 (BigInt for the 64-bit generator), runs from file:// and needs
// nothing but the page. Shapes: N symbols, H a layer's width, I its input
// (N for the first layer, which reads a one-hot symbol: W x is then column
// `symbol` of W), G the cell's gate blocks (rnn 1, gru 3, lstm and mlstm 4).

extension WebPage {
    /// The page around the escaped title and description, the spec's JSON and the base64 weights.
    static func page(title: String, description: String, spec: String, weights: String) -> String {
        """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(title)</title>
        <style>
        body { font: 15px/1.4 system-ui, sans-serif; margin: 1.5em auto; max-width: 60em; padding: 0 1em; color: #222; }
        h1 { font-size: 1.3em; margin: 0; }
        .model { color: #666; margin: 0.2em 0 1em; }
        form { display: flex; flex-wrap: wrap; gap: 0.6em 1.2em; align-items: end; }
        label { display: flex; flex-direction: column; font-size: 0.85em; color: #555; }
        label.wide { flex-basis: 100%; }
        textarea, input { font: 14px ui-monospace, monospace; padding: 0.25em; }
        input[type=number], input.short { width: 7em; }
        #output { white-space: pre-wrap; font: 14px/1.35 ui-monospace, monospace; background: #f6f6f4; padding: 0.8em;
                  min-height: 8em; border: 1px solid #ddd; }
        #output .prime { color: #07c; }
        #status, #score-result { color: #555; font-size: 0.9em; }
        </style>
        </head>
        <body>
        <h1>\(title)</h1>
        <p class="model">\(description)</p>
        <form id="controls">
        <label class="wide">Prime (the model reads it first; empty: a random first symbol)<textarea id="prime" rows="2"></textarea></label>
        <label>Temperature<input id="temperature" type="number" min="0" step="0.05" value="1"></label>
        <label>Top-k<input id="top_k" type="number" min="1" step="1" placeholder="all"></label>
        <label>Top-p<input id="top_p" type="number" min="0" max="1" step="0.01" placeholder="1"></label>
        <label>Length<input id="length" type="number" min="0" step="1" value="500"></label>
        <label>Seed<input id="seed" class="short" type="text" inputmode="numeric" placeholder="random"></label>
        <button id="generate" type="submit">Generate</button>
        <button id="stop" type="button" disabled>Stop</button>
        </form>
        <p id="status"></p>
        <pre id="output"></pre>
        <details>
        <summary>Score a text</summary>
        <textarea id="score-text" rows="4" cols="80"></textarea><br>
        <button id="score" type="button">Score</button>
        <p id="score-result"></p>
        </details>
        <pre id="result" hidden></pre>
        <script id="spec" type="application/json">\(spec)</script>
        <script>const WEIGHTS = "\(weights)";</script>
        <script>
        \(script)
        </script>
        </body>
        </html>

        """
    }

    static let script = #"""
        "use strict";
        // ---------------------------------------------------------------- the model
        const spec = JSON.parse(document.getElementById("spec").textContent);
        const N = spec.symbols.length;
        const G = { rnn: 1, gru: 3, lstm: 4, mlstm: 4 }[spec.cell];
        if (!G) throw new Error("unknown cell " + spec.cell);
        const f = Math.fround;

        function halfToFloat(bits) {
          const sign = bits & 0x8000 ? -1 : 1, exponent = (bits >> 10) & 31, mantissa = bits & 1023;
          if (exponent === 0) return sign * mantissa * 2 ** -24;
          if (exponent === 31) return mantissa ? NaN : sign * Infinity;
          return sign * (1024 + mantissa) * 2 ** (exponent - 25);
        }

        /** All parameters, flat in charrnn's layout order, as float32 (little-endian in the page). */
        const W = (() => {
          const binary = atob(WEIGHTS), bytes = new Uint8Array(binary.length);
          for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
          const view = new DataView(bytes.buffer), out = new Float32Array(spec.parameters);
          if (spec.precision === "float32") for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(4 * i, true);
          else for (let i = 0; i < out.length; i++) out[i] = halfToFloat(view.getUint16(2 * i, true));
          return out;
        })();

        const sigmoid = (x) => 1 / (1 + Math.exp(-x));

        /** out (rows) = W[offset] (rows, I) x, or W's column `symbol` when x is null (a one-hot input); += with add. */
        function product(offset, rows, width, x, symbol, out, add) {
          for (let g = 0; g < rows; g++) {
            let sum;
            if (x === null) sum = W[offset + g * width + symbol];
            else {
              sum = 0;
              const row = offset + g * width;
              for (let i = 0; i < width; i++) sum += W[row + i] * x[i];
            }
            out[g] = add ? out[g] + sum : sum;
          }
        }

        /** The LSTM's activation of a (4H; gates i f g o), updating c and h: shared by lstm and mlstm. */
        function lstmActivate(a, c, h, H) {
          for (let j = 0; j < H; j++) {
            const input = sigmoid(a[j]), forget = sigmoid(a[H + j]), cell = Math.tanh(a[2 * H + j]), output = sigmoid(a[3 * H + j]);
            c[j] = forget * c[j] + input * cell;
            h[j] = output * Math.tanh(c[j]);
          }
        }

        /** One layer's step, the cells' equations (Sources/CharRNN/Layers/Cells/*Cell.swift, referenceForward). */
        const cells = {
          rnn(l, x, symbol) {   // h' = tanh(Wi x + b + Wh h)
            const H = l.hidden, t = l.tensors, a = l.a;
            product(t.Wi, H, l.input, x, symbol, a, false);
            for (let j = 0; j < H; j++) a[j] += W[t.b + j];
            product(t.Wh, H, H, l.h, 0, a, true);
            for (let j = 0; j < H; j++) l.h[j] = Math.tanh(a[j]);
          },
          lstm(l, x, symbol) {  // a = Wi x + b + Wh h; i f g o; c' = f c + i g; h' = o tanh(c')
            const H = l.hidden, t = l.tensors, a = l.a;
            product(t.Wi, 4 * H, l.input, x, symbol, a, false);
            for (let j = 0; j < 4 * H; j++) a[j] += W[t.b + j];
            product(t.Wh, 4 * H, H, l.h, 0, a, true);
            lstmActivate(a, l.c, l.h, H);
          },
          gru(l, x, symbol) {   // r = σ(gx_r + gh_r); z = σ(gx_z + gh_z); n = tanh(gx_n + r gh_n); h' = (1 - z) n + z h
            const H = l.hidden, t = l.tensors, gx = l.a, gh = l.b;
            product(t.Wi, 3 * H, l.input, x, symbol, gx, false);
            for (let j = 0; j < 3 * H; j++) gx[j] += W[t.b + j];
            product(t.Wh, 3 * H, H, l.h, 0, gh, false);
            for (let j = 0; j < H; j++) {
              const reset = sigmoid(gx[j] + gh[j]), update = sigmoid(gx[H + j] + gh[H + j]);
              const candidate = Math.tanh(gx[2 * H + j] + reset * gh[2 * H + j]);
              l.h[j] = (1 - update) * candidate + update * l.h[j];
            }
          },
          mlstm(l, x, symbol) { // m = (Wmx x) ⊙ (Wmh h); a = Wi x + b + Wh m; then the LSTM
            const H = l.hidden, t = l.tensors, a = l.a, mx = l.b, m = l.m;
            product(t.Wmx, H, l.input, x, symbol, mx, false);
            product(t.Wmh, H, H, l.h, 0, m, false);
            for (let j = 0; j < H; j++) m[j] *= mx[j];
            product(t.Wi, 4 * H, l.input, x, symbol, a, false);
            for (let j = 0; j < 4 * H; j++) a[j] += W[t.b + j];
            product(t.Wh, 4 * H, H, m, 0, a, true);
            lstmActivate(a, l.c, l.h, H);
          },
        };

        /** The network of one stream: state in doubles, logits (N) rounded to float32 as charrnn's are. */
        class Network {
          constructor() {
            this.layers = spec.layers.map((l) => ({
              input: l.input, hidden: l.hidden, tensors: l.tensors,
              h: new Float64Array(l.hidden), c: new Float64Array(l.hidden), m: new Float64Array(l.hidden),
              a: new Float64Array(G * l.hidden), b: new Float64Array(G * l.hidden),
            }));
            this.logits = new Float32Array(N);
            this.last = new Float64Array(N);
          }
          reset() { for (const l of this.layers) { l.h.fill(0); l.c.fill(0); } }
          step(symbol) {
            let x = null;
            for (const l of this.layers) { cells[spec.cell](l, x, symbol); x = l.h; }
            const H = x.length;
            product(spec.dense.W, N, H, x, 0, this.last, false);
            for (let s = 0; s < N; s++) this.logits[s] = this.last[s] + W[spec.dense.b + s];
          }
        }

        // ---------------------------------------------------------------- the generator (Support/Random.swift)
        const MASK = (1n << 64n) - 1n;
        const rotl = (x, k) => ((x << k) | (x >> (64n - k))) & MASK;

        function splitMix64(seed) {
          let state = seed;
          return () => {
            state = (state + 0x9E3779B97F4A7C15n) & MASK;
            let z = state;
            z = ((z ^ (z >> 30n)) * 0xBF58476D1CE4E5B9n) & MASK;
            z = ((z ^ (z >> 27n)) * 0x94D049BB133111EBn) & MASK;
            return z ^ (z >> 31n);
          };
        }

        /** xoshiro256**, seeded by SplitMix64: the generator behind charrnn-sample --seed. */
        class Xoshiro256 {
          constructor(seed) {
            const mix = splitMix64(seed);
            this.s0 = mix(); this.s1 = mix(); this.s2 = mix(); this.s3 = mix();
          }
          next() {
            const result = (rotl((this.s1 * 5n) & MASK, 7n) * 9n) & MASK;
            const t = (this.s1 << 17n) & MASK;
            this.s2 ^= this.s0; this.s3 ^= this.s1; this.s1 ^= this.s2; this.s0 ^= this.s3;
            this.s2 ^= t;
            this.s3 = rotl(this.s3, 45n);
            return result;
          }
          /** A double in [0, 1) with 53 random bits. */
          nextUnitDouble() { return Number(this.next() >> 11n) * 2 ** -53; }
          /** An integer in 0..<bound without modulo bias (Lemire's method). */
          nextIndex(bound) {
            const b = BigInt(bound);
            let product = this.next() * b;
            if ((product & MASK) < b) {
              const threshold = ((MASK + 1n) - b) % b;
              while ((product & MASK) < threshold) product = this.next() * b;
            }
            return Number(product >> 64n);
          }
        }

        // ---------------------------------------------------------------- the draw (Sampling/Sampler.swift)
        /** a * b + c rounded to float32: the product of two floats is exact in a double, so this is one
         *  fused multiply-add but for a double rounding, which differs from a single one only at exact ties. */
        const fma = (a, b, c) => f(a * b + c);

        /** expf32 (Tensor/VectorMath.swift, vexp): the same polynomial and scaling in float32. */
        function expf32(x) {
          if (x > 89) x = 89;
          if (x < -104) x = -104;
          const shifted = fma(x, f(1.44269504088896341), 12582912);
          const n = f(shifted - 12582912);
          let r = fma(n, -f(0.693147182464599609375), x);
          r = fma(n, -f(-1.9046542999577678785e-9), r);
          let p = f(1.9875691500e-4);
          p = fma(p, r, f(1.3981999507e-3));
          p = fma(p, r, f(8.3334519073e-3));
          p = fma(p, r, f(4.1665795894e-2));
          p = fma(p, r, f(1.6666665459e-1));
          p = fma(p, r, f(5.0000001201e-1));
          const expR = f(fma(p, f(r * r), r) + 1);
          const half = Math.floor(n / 2), rest = n - half;
          return f(f(expR * 2 ** half) * 2 ** rest);
        }

        /** The next symbol from logits z (float32) under rule {temperature, topK, topP}: Sampler.draw. */
        function draw(z, rule, rng, weights) {
          let largest = z[0], best = 0;
          for (let s = 1; s < N; s++) if (z[s] > largest) { largest = z[s]; best = s; }
          if (rule.temperature === 0) return best;
          const inverse = 1 / rule.temperature;
          let total = 0;
          for (let s = 0; s < N; s++) {
            const weight = expf32(f((z[s] - largest) * inverse));
            weights[s] = weight;
            total += weight;
          }
          if (rule.topK !== null || (rule.topP !== null && rule.topP < 1)) {
            const order = Array.from({ length: N }, (_, s) => s);
            order.sort((a, b) => (z[a] > z[b] || (z[a] === z[b] && a < b)) ? -1 : 1);
            let kept = Math.min(N, rule.topK ?? N);
            if (rule.topP !== null && rule.topP < 1) {
              let mass = 0;
              for (let rank = 0; rank < kept; rank++) mass += weights[order[rank]];
              const wanted = rule.topP * mass;
              let cumulative = 0;
              for (let rank = 0; rank < kept; rank++) {
                cumulative += weights[order[rank]];
                if (cumulative >= wanted) { kept = rank + 1; break; }
              }
            }
            for (let rank = kept; rank < N; rank++) weights[order[rank]] = 0;
            if (kept === 1) return best;
            if (kept < N) { total = 0; for (let s = 0; s < N; s++) total += weights[s]; }
          }
          const threshold = rng.nextUnitDouble() * total;
          let cumulative = 0;
          for (let s = 0; s < N; s++) {
            cumulative += weights[s];
            if (cumulative > threshold) return s;
          }
          return best;
        }

        /** The symbols charrnn-sample prints after the prime (Sampler.sample), one by one. */
        function* sample(network, rng, rule, prime, length) {
          let remaining = length, current;
          const weights = new Float64Array(N);
          network.reset();
          if (prime.length === 0) {
            current = rng.nextIndex(N);
            if (remaining > 0 && current !== spec.stop) { yield current; remaining--; }
          } else {
            for (const symbol of prime.slice(0, -1)) network.step(symbol);
            current = prime[prime.length - 1];
          }
          let draws = 0;
          const maxDraws = 16 * remaining + 1024;
          while (remaining > 0 && draws < maxDraws) {
            network.step(current);
            current = draw(network.logits, rule, rng, weights);
            draws++;
            if (current === spec.stop) continue;
            yield current;
            remaining--;
          }
        }

        /** -ln p of each character of `text` after the first (unknown characters and the stop symbol
         *  skipped, as charrnn-sample --score does), with its offset in the text's characters. */
        function score(text) {
          const index = new Map(spec.symbols.map((c, s) => [c, s]));
          const read = [];
          let offset = 0;
          for (const ch of text) {
            const s = index.get(ch.codePointAt(0));
            if (s !== undefined && s !== spec.stop) read.push([s, offset]);
            offset++;
          }
          const network = new Network(), nats = [], positions = [];
          let total = 0;
          for (let p = 0; p + 1 < read.length; p++) {
            network.step(read[p][0]);
            const z = network.logits, target = read[p + 1][0];
            let largest = -Infinity;
            for (let s = 0; s < N; s++) largest = Math.max(largest, z[s]);
            let sum = 0;
            for (let s = 0; s < N; s++) sum += Math.exp(z[s] - largest);
            const loss = Math.log(sum) - (z[target] - largest);
            nats.push(loss); positions.push(read[p + 1][1]); total += loss;
          }
          return { predicted: nats.length, nats_per_char: nats.length ? total / nats.length : NaN, nats, positions };
        }

        // ---------------------------------------------------------------- the page
        const $ = (id) => document.getElementById(id);
        const symbolIndex = new Map(spec.symbols.map((c, s) => [c, s]));
        const symbolText = spec.symbols.map((c) => String.fromCodePoint(c));

        /** The settings in the controls, checked as charrnn-sample checks its flags; throws a message. */
        function readSettings() {
          const number = (id, name) => {
            const text = $(id).value.trim();
            if (text === "") return null;
            const value = Number(text);
            if (!Number.isFinite(value)) throw `${name} must be a number, not '${text}'`;
            return value;
          };
          const temperature = number("temperature", "temperature") ?? 1;
          if (!(temperature >= 0)) throw `temperature must be >= 0, not ${temperature}`;
          const topK = number("top_k", "top-k");
          if (topK !== null && !(Number.isInteger(topK) && topK >= 1)) throw `top-k must be an integer >= 1, not ${topK}`;
          const topP = number("top_p", "top-p");
          if (topP !== null && !(topP > 0 && topP <= 1)) throw `top-p must be in (0, 1], not ${topP}`;
          if ((topK !== null || topP !== null) && temperature === 0) throw "top-k and top-p do nothing with temperature 0 (argmax)";
          const length = number("length", "length") ?? 500;
          if (!(Number.isInteger(length) && length >= 0 && length <= 1e7)) throw `length must be an integer from 0 to 10000000, not ${length}`;
          let seedText = $("seed").value.trim(), seed;
          if (seedText === "") {
            const words = crypto.getRandomValues(new Uint32Array(2));
            seed = (BigInt(words[0]) << 32n) | BigInt(words[1]);
          } else {
            if (!/^[0-9]+$/.test(seedText) || BigInt(seedText) > MASK) throw `seed must be an integer from 0 to 2^64-1, not '${seedText}'`;
            seed = BigInt(seedText);
          }
          const prime = [];
          let position = 0;
          for (const ch of $("prime").value) {
            const symbol = symbolIndex.get(ch.codePointAt(0));
            const code = "U+" + ch.codePointAt(0).toString(16).toUpperCase().padStart(4, "0");
            if (symbol === undefined) throw `prime: character ${position} (${code}) is not in the model's alphabet`;
            if (symbol === spec.stop) throw `prime: character ${position} (${code}) is the stop symbol`;
            prime.push(symbol);
            position++;
          }
          return { rule: { temperature, topK, topP }, length, seed, prime };
        }

        /** Leaves `value` as JSON in <pre id="result"> for scripts: ASCII only, so no HTML escaping applies. */
        function publish(value) {
          $("result").textContent = JSON.stringify(value).replace(/[^\x20-\x7e]|[<>&]/g,
            (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
        }

        let running = null;
        /** What the page leaves in <pre id="result">: {sample: {...}} and/or {score: {...}}. */
        const results = {};

        function generate() {
          let settings;
          try { settings = readSettings(); } catch (message) { $("status").textContent = String(message); return; }
          if (running) running.stop = true;
          const job = { stop: false };
          running = job;
          const out = $("output");
          out.textContent = "";
          const primeText = settings.prime.map((s) => symbolText[s]).join("");
          if (primeText) { const span = document.createElement("span"); span.className = "prime"; span.textContent = primeText; out.append(span); }
          const symbols = sample(new Network(), new Xoshiro256(settings.seed), settings.rule, settings.prime, settings.length);
          let text = "", count = 0;
          const started = performance.now();
          $("generate").disabled = false; $("stop").disabled = false;
          $("status").textContent = `seed ${settings.seed}`;
          const finish = (stopped) => {
            const seconds = (performance.now() - started) / 1000;
            $("stop").disabled = true;
            if (running === job) running = null;
            $("status").textContent = `seed ${settings.seed}: ${count} symbols in ${seconds.toFixed(2)} s` +
              (seconds > 0 ? `, ${Math.round(count / seconds)} symbols/s` : "") + (stopped ? " (stopped)" : "");
            results.sample = { done: !stopped, seed: String(settings.seed), temperature: settings.rule.temperature,
                               length: settings.length, text: primeText + text };
            publish(results);
          };
          // Streams: each slice draws for about 15 ms, appends what it drew and yields to the browser.
          const slice = () => {
            if (job.stop) return finish(true);
            const until = performance.now() + 15;
            let chunk = "", step;
            while (!(step = symbols.next()).done) {
              chunk += symbolText[step.value];
              count++;
              if (performance.now() > until) break;
            }
            text += chunk;
            if (chunk) out.append(chunk);
            if (step.done) finish(false); else setTimeout(slice, 0);
          };
          slice();
        }

        $("controls").addEventListener("submit", (event) => { event.preventDefault(); generate(); });
        $("stop").addEventListener("click", () => { if (running) running.stop = true; });
        $("score").addEventListener("click", () => {
          const result = score($("score-text").value);
          $("score-result").textContent = result.predicted
            ? `${result.predicted} characters predicted, ${result.nats_per_char.toFixed(4)} nats/char ` +
              `(${(result.nats_per_char / Math.LN2).toFixed(4)} bits/char), perplexity ${Math.exp(result.nats_per_char).toFixed(3)}`
            : "needs at least 2 characters the alphabet has";
        });

        // Query parameters: ?score=TEXT scores it; any of prime, temperature, top_k, top_p, length, seed samples at once.
        // <pre id="result"> gets {"score": {...}} and, when the sample ends, {"sample": {...}} (or {"error": "..."}).
        const query = new URLSearchParams(location.search);
        const settingKeys = ["prime", "temperature", "top_k", "top_p", "length", "seed"];
        if (query.has("score")) {
          $("score-text").value = query.get("score");
          results.score = score(query.get("score"));
          publish(results);
        }
        if (settingKeys.some((key) => query.has(key))) {
          for (const key of settingKeys) if (query.has(key)) $(key).value = query.get(key);
          generate();
          if (!running && !results.sample) { results.error = $("status").textContent; publish(results); }
        }
        """#
}
