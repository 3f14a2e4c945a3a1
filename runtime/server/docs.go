package server

import (
	"fmt"
	"html/template"
	"net/http"
	"strings"
)

// endpoint documents one route for both /docs and /openapi.json, so the
// two cannot drift apart.
type endpoint struct {
	Method, Path, Summary, Request, Response string
	Codes                                    []int
}

func (s *Server) endpoints() []endpoint {
	in := s.m.In
	row := make([]string, in)
	for i := range row {
		row[i] = fmt.Sprintf("%.1f", float64(i)/10)
	}
	one := "[" + strings.Join(row, ", ") + "]"
	return []endpoint{
		{"GET", "/", "Health and device: status, gpu_available (as the seed server), device, GPUs found, model, batching.", "", `{"status": "running", "gpu_available": false, "device": {"kind": "cpu", ...}, "model": {...}}`, []int{200}},
		{"POST", "/predict", fmt.Sprintf("Seed-compatible inference. Body: a JSON list of %d numbers (one row, answers a flat list) or a list of such lists (a batch, answers a list of lists).", in), one, fmt.Sprintf(`{"prediction": [%d numbers]}  or  {"prediction": [[...], ...]}`, s.m.Out), []int{200, 400, 413, 422, 503}},
		{"GET", "/docs", "This page.", "", "HTML", []int{200}},
		{"GET", "/openapi.json", "The OpenAPI 3.1 document of this API.", "", "JSON", []int{200}},
		{"GET", "/metrics", "Prometheus metrics: requests, failures, latency histograms (queue, compute, total), batch sizes, GPU utilisation and memory.", "", "text/plain; version=0.0.4", []int{200}},
		{"GET", "/v2", "Open Inference Protocol: server metadata.", "", `{"name": "gpuctl", "version": "...", "extensions": ["binary_tensor_data"]}`, []int{200}},
		{"GET", "/v2/health/live", "Liveness.", "", `{"live": true}`, []int{200}},
		{"GET", "/v2/health/ready", "Readiness: 503 while draining on shutdown.", "", `{"ready": true}`, []int{200, 503}},
		{"GET", "/v2/models/{name}", "Model metadata: inputs, outputs, device.", "", fmt.Sprintf(`{"name": %q, "versions": [%q], "inputs": [{"name": %q, "datatype": "FP32", "shape": [-1, %d]}], ...}`, s.m.Name, s.m.Version, s.m.InputName, in), []int{200, 404}},
		{"GET", "/v2/models/{name}/ready", "Model readiness.", "", `{"ready": true}`, []int{200, 404, 503}},
		{"POST", "/v2/models/{name}/infer", "Open Inference Protocol inference. JSON tensors, or the binary tensor data extension: set Inference-Header-Content-Length to the JSON part's length and append raw little-endian tensors; ask for a binary answer with outputs[].parameters.binary_data or parameters.binary_data_output.",
			fmt.Sprintf(`{"inputs": [{"name": %q, "shape": [1, %d], "datatype": "FP32", "data": [%s]}]}`, s.m.InputName, in, strings.Trim(one, "[]")),
			fmt.Sprintf(`{"model_name": %q, "outputs": [{"name": %q, "datatype": "FP32", "shape": [1, %d], "data": [...]}]}`, s.m.Name, s.m.OutputName, s.m.Out), []int{200, 400, 404, 413, 503}},
	}
}

var docsPage = template.Must(template.New("docs").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>gpuctl serve: {{.Model}}</title>
<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.5}
code,pre{background:#f4f4f4;border-radius:4px}pre{padding:.6rem;overflow-x:auto}
.m{display:inline-block;min-width:3.5rem;font-weight:bold}.GET{color:#0a6}.POST{color:#05b}
section{border-top:1px solid #ddd;padding:.5rem 0}</style></head><body>
<h1>gpuctl serve</h1>
<p>Model <b>{{.Model}}</b> ({{.In}} inputs → {{.Out}} outputs) on <b>{{.Device}}</b>.
Machine-readable: <a href="/openapi.json">/openapi.json</a>. Errors answer <code>{"detail": "..."}</code>
(<code>{"error": "..."}</code> under /v2) with a 4xx code saying what was expected.</p>
{{range .Endpoints}}<section><p><span class="m {{.Method}}">{{.Method}}</span> <code>{{.Path}}</code> — {{.Summary}}</p>
{{if .Request}}<p>Example:</p><pre>curl -s -X {{.Method}} http://HOST{{.Path}} -H 'Content-Type: application/json' -d '{{.Request}}'</pre>{{end}}
<p>Answer: <code>{{.Response}}</code>; status codes {{range .Codes}}{{.}} {{end}}</p></section>
{{end}}</body></html>`))

func (s *Server) handleDocs(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	dev := s.be.Device()
	docsPage.Execute(w, map[string]any{
		"Model": s.m.Name, "In": s.m.In, "Out": s.m.Out, "Device": dev.Kind + " " + dev.Name + " " + dev.Precision,
		"Endpoints": s.endpoints(),
	})
}

func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.openAPI())
}

func (s *Server) openAPI() map[string]any {
	num := map[string]any{"type": "number"}
	row := map[string]any{"type": "array", "items": num, "minItems": s.m.In, "maxItems": s.m.In}
	errSchema := func(field string) map[string]any {
		return map[string]any{"type": "object", "properties": map[string]any{field: map[string]any{"type": "string"}}}
	}
	tensor := map[string]any{"type": "object", "required": []string{"name", "shape", "datatype"}, "properties": map[string]any{
		"name": map[string]any{"type": "string"}, "shape": map[string]any{"type": "array", "items": map[string]any{"type": "integer"}},
		"datatype":   map[string]any{"type": "string", "enum": []string{"FP32", "FP64", "FP16", "BF16", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"}},
		"parameters": map[string]any{"type": "object"}, "data": map[string]any{"type": "array"},
	}}
	schemas := map[string]any{
		"PredictRequest":  map[string]any{"oneOf": []any{row, map[string]any{"type": "array", "items": row, "minItems": 1, "maxItems": s.cfg.MaxRows}}},
		"PredictResponse": map[string]any{"type": "object", "properties": map[string]any{"prediction": map[string]any{"type": "array"}}},
		"HTTPError":       errSchema("detail"),
		"V2Error":         errSchema("error"),
		"InferRequest": map[string]any{"type": "object", "required": []string{"inputs"}, "properties": map[string]any{
			"id": map[string]any{"type": "string"}, "parameters": map[string]any{"type": "object"},
			"inputs":  map[string]any{"type": "array", "items": tensor},
			"outputs": map[string]any{"type": "array", "items": map[string]any{"type": "object", "properties": map[string]any{"name": map[string]any{"type": "string"}, "parameters": map[string]any{"type": "object"}}}},
		}},
		"InferResponse": map[string]any{"type": "object", "properties": map[string]any{
			"model_name": map[string]any{"type": "string"}, "model_version": map[string]any{"type": "string"}, "id": map[string]any{"type": "string"},
			"outputs": map[string]any{"type": "array", "items": tensor},
		}},
	}
	ref := func(n string) map[string]any { return map[string]any{"$ref": "#/components/schemas/" + n} }
	paths := map[string]any{}
	for _, e := range s.endpoints() {
		op := map[string]any{"summary": e.Summary, "responses": map[string]any{}}
		resp := op["responses"].(map[string]any)
		for _, c := range e.Codes {
			d := map[string]any{"description": httpText(c)}
			switch {
			case c >= 400 && strings.HasPrefix(e.Path, "/v2"):
				d["content"] = map[string]any{"application/json": map[string]any{"schema": ref("V2Error")}}
			case c >= 400:
				d["content"] = map[string]any{"application/json": map[string]any{"schema": ref("HTTPError")}}
			case e.Path == "/predict":
				d["content"] = map[string]any{"application/json": map[string]any{"schema": ref("PredictResponse")}}
			case strings.HasSuffix(e.Path, "/infer"):
				d["content"] = map[string]any{"application/json": map[string]any{"schema": ref("InferResponse")}}
			}
			resp[fmt.Sprint(c)] = d
		}
		switch e.Path {
		case "/predict":
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": ref("PredictRequest")}}}
		case "/v2/models/{name}/infer":
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
				"application/json":         map[string]any{"schema": ref("InferRequest")},
				"application/octet-stream": map[string]any{"schema": map[string]any{"type": "string", "format": "binary"}, "description": "binary tensor data extension"},
			}}
		}
		if strings.Contains(e.Path, "{name}") {
			op["parameters"] = []any{map[string]any{"name": "name", "in": "path", "required": true, "schema": map[string]any{"type": "string", "enum": []string{s.m.Name}}}}
		}
		item, _ := paths[e.Path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[e.Path] = item
		}
		item[strings.ToLower(e.Method)] = op
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{"title": "gpuctl serve", "version": s.cfg.Version,
			"description": fmt.Sprintf("Model %s: %d inputs, %d outputs.", s.m.Name, s.m.In, s.m.Out)},
		"paths":      paths,
		"components": map[string]any{"schemas": schemas},
	}
}

func httpText(c int) string {
	if t := http.StatusText(c); t != "" {
		return t
	}
	return fmt.Sprint(c)
}
