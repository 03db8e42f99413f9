package api

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"

	"gopkg.in/yaml.v3"

	"breachd/auth"
)

// OpenAPI is the OpenAPI 3 document of the API (YAML), served as JSON at /api/openapi.json.
//
//go:embed openapi.yaml
var OpenAPI []byte

var openapiJSON = sync.OnceValues(func() ([]byte, error) {
	var doc any
	if err := yaml.Unmarshal(OpenAPI, &doc); err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	return json.Marshal(doc)
})

// openapi serves the document as JSON.
func (s *Server) openapi(w http.ResponseWriter, _ *http.Request, _ *auth.Principal) (any, error) {
	b, err := openapiJSON()
	if err != nil {
		return nil, err
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
	return nil, nil
}
