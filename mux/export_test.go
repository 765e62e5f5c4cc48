package mux

// WindowFor is windowFor, for the tests of package mux_test.
var WindowFor = windowFor
