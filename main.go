// Command runner runs declarative Kubernetes test scenarios written as YAML plans.
package main

func main() {}
