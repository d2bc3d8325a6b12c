"""ionpy_widgets: JupyterLab as a lab-bench instrument station."""

__version__ = "0.1.0"
