package client

// Settle waits for the background work started so far (refreshes, re-resolutions) to end. Call
// it only when no lookup runs concurrently.
func (c *Client) Settle() { c.wg.Wait() }
