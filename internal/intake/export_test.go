package intake

// AuthPeer is authPeer, for the tests.
var AuthPeer = authPeer
