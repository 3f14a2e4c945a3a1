package generic

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/gpuctl/gpuctl/modules"
)

// uri's TLS settings. ansible-core's uri runs on the host, so client_cert,
// client_key and ca_path name files there; gpuctl makes the request itself
// through the host's connection, so it reads them from the host and uses
// them here.

func (m *URI) validateTLS() error {
	if m.ClientKey != "" && m.ClientCert == "" {
		return errors.New("client_key needs client_cert (the certificate it is the key of)")
	}
	for _, p := range []struct{ name, v string }{{"client_cert", m.ClientCert}, {"client_key", m.ClientKey}, {"ca_path", m.CAPath}} {
		if p.v != "" {
			if err := absPath(p.name, p.v); err != nil {
				return err
			}
		}
	}
	return nil
}

// tlsConfig is the request's TLS configuration: validate_certs; ca_path's
// certificates as the only roots (ansible-core's create_default_context
// with a cafile loads no others); the client certificate, whose key is
// client_key's or, without one, in client_cert's own file.
func (m *URI) tlsConfig(ctx context.Context, h modules.Host) (*tls.Config, error) {
	cfg := &tls.Config{InsecureSkipVerify: !m.ValidateCerts} //nolint:gosec // the user's validate_certs: false
	if m.CAPath != "" && m.ValidateCerts {
		b, err := h.Conn().ReadFile(ctx, m.CAPath)
		if err != nil {
			return nil, fmt.Errorf("ca_path %s: %w", m.CAPath, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("ca_path %s holds no PEM certificate", m.CAPath)
		}
		cfg.RootCAs = pool
	}
	if m.ClientCert == "" {
		return cfg, nil
	}
	cert, err := h.Conn().ReadFile(ctx, m.ClientCert)
	if err != nil {
		return nil, fmt.Errorf("client_cert %s: %w", m.ClientCert, err)
	}
	key, keyFrom := cert, m.ClientCert
	if m.ClientKey != "" {
		if key, err = h.Conn().ReadFile(ctx, m.ClientKey); err != nil {
			return nil, fmt.Errorf("client_key %s: %w", m.ClientKey, err)
		}
		keyFrom = m.ClientKey
	}
	pair, err := tls.X509KeyPair(cert, key)
	if err != nil {
		return nil, fmt.Errorf("client_cert %s with the key in %s: %w", m.ClientCert, keyFrom, err)
	}
	cfg.Certificates = []tls.Certificate{pair}
	return cfg, nil
}
