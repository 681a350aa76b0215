// Command noop does nothing: the baseline for the start-up benchmark.
package main

func main() {}
