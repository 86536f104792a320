<#-- Fails on purpose: resetqUndefinedVariable is not in the model. -->
<html><body><p>${resetqUndefinedVariable}</p></body></html>
