from cli.main import main


def test_abs_archs_prints_each_arch_with_its_parameter_counts(capsys):
    assert main(["archs"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert set(lines) >= {"resnet18", "resnet50", "wide_resnet50_2", "cbam_resnet18", "unet_resnet18"}
    assert "11,185,746" in lines["resnet18"] and "11,275,626" in lines["cbam_resnet18"]
    assert "3,151,987" in lines["unet_resnet18"]  # its decoder
    assert "all but reconstruction" in lines["resnet18"] and lines["unet_resnet18"].endswith("all")
