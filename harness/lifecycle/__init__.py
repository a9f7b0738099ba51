"""The controller contract, its adapters, the scenarios that drive a controller
through create / sync / churn / stop cycles, stop deadlines and thread dumps."""
