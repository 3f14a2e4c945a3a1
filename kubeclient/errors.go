package kubeclient

import (
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Wrap names the operation and object in an API error and adds what the
// user most likely needs to know for the common failures.
func (c *Client) Wrap(op, object string, err error) error {
	if err == nil {
		return nil
	}
	var unreach *UnreachableError
	switch {
	case errors.As(err, &unreach):
		return fmt.Errorf("%s %s: %w", op, object, err)
	case apierrors.IsForbidden(err):
		return fmt.Errorf("%s %s: the kubeconfig's user is not allowed to (RBAC): %w", op, object, err)
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("%s %s: the API server %s rejected the kubeconfig's credentials: %w", op, object, c.Server, err)
	}
	return fmt.Errorf("%s %s: %w", op, object, err)
}
